"""ServingValidator: each gate on real models, the warmup records it writes,
and the pipeline refusing a noisy export (nothing pushed)."""

import glob
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from conftest import SHORT
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2
from tfx.types import standard_artifacts

from noisy_rnn.components.serving_validator import executor
from noisy_rnn.pipeline.config import ModelConfig, PipelineConfig
from noisy_rnn.pipeline.ops import runner

CHECKS = ["deterministic", "latency", "matches_trainer", "no_random_ops",
          "signatures_agree", "warmup_replays"]


def only(pattern):
    [path] = glob.glob(pattern)
    return path


def by_name(report):
    return {check["name"]: check for check in report["checks"]}


def check_request(config, model_dir):
    """A clean-check request for ``model_dir`` on the run's real data."""
    root = os.path.join(config.output, "pipeline_root")
    reference = only(os.path.join(root, "Trainer", "model_run", "*",
                                  executor.REFERENCE_DIR))
    return {"model_dir": str(model_dir),
            "examples": glob.glob(os.path.join(
                root, "SequenceExampleGen", "examples", "*", "Split-eval",
                "*.gz")),
            "features": config.spec.features,
            "budgets_ms": {"p50_batch_1": 1e3, "p99_batch_1": 1e3,
                           "p50_batch_64": 1e3, "p99_batch_64": 1e3},
            "repeats": 10, "tolerance": 1e-5,
            "reference_examples": os.path.join(reference, "examples.tfrecord"),
            "reference_outputs": os.path.join(reference, "outputs.npz")}


def test_blessed_model_passes_every_check_and_carries_warmup(
        japanese_vowels):
    config, summary = japanese_vowels
    assert summary.serving_blessed is True
    assert summary.serving_report.startswith("ServingValidator: BLESSED")
    [report_path] = glob.glob(os.path.join(
        config.output, "pipeline_root", "ServingValidator", "blessing", "*",
        executor.REPORT_JSON))
    with open(report_path) as f:
        report = json.load(f)
    assert report["blessed"] is True and report["project_importable"] is False
    assert sorted(by_name(report)) == CHECKS
    assert all(check["passed"] for check in report["checks"])
    assert set(report["latency_ms"]) == {"p50_batch_1", "p99_batch_1",
                                         "p50_batch_64", "p99_batch_64"}

    # The pushed model is the validated copy, warmup records included: both
    # signatures at batch 1 and 64, built from real eval examples.
    warmup = os.path.join(summary.pushed_path, "assets.extra",
                          "tf_serving_warmup_requests")
    requests = [prediction_log_pb2.PredictionLog.FromString(
        r.numpy()).predict_log.request
        for r in tf.data.TFRecordDataset([warmup])]
    shapes = sorted((r.model_spec.signature_name,
                     tuple(d.size for d in r.inputs[
                         "examples" if r.model_spec.signature_name ==
                         "serving_default" else "lengths"].tensor_shape.dim))
                    for r in requests)
    assert shapes == [("serving_default", (1,)), ("serving_default", (64,)),
                      ("serving_sequences", (1,)),
                      ("serving_sequences", (64,))]
    first = tf.train.Example.FromString(
        tf.make_ndarray(requests[0].inputs["examples"])[0]
        if requests[0].model_spec.signature_name == "serving_default"
        else tf.make_ndarray(requests[1].inputs["examples"])[0])
    assert len(first.features.feature["c0"].float_list.value) >= 7


def test_each_gate_refuses_what_it_guards(japanese_vowels, tmp_path):
    """One clean process (started ahead, as `runner.run` does), three
    faults: a latency budget no model meets, Trainer outputs the export does
    not reproduce, a warmup request for an input the model does not have.
    Each gate fails; the others pass."""
    executor.prestart_clean_process()
    prestarted = executor._prestarted[0]  # pylint: disable=protected-access
    config, summary = japanese_vowels
    model_dir = tmp_path / "model"
    shutil.copytree(summary.pushed_path, model_dir)
    request = check_request(config, model_dir)
    request["budgets_ms"]["p99_batch_64"] = 1e-3

    with np.load(request["reference_outputs"]) as reference:
        shifted = {key: reference[key] + 0.01 for key in reference.files}
    request["reference_outputs"] = str(tmp_path / "shifted.npz")
    np.savez(request["reference_outputs"], **shifted)

    bad = predict_pb2.PredictRequest()
    bad.model_spec.signature_name = "serving_default"
    bad.inputs["not_an_input"].CopyFrom(tf.make_tensor_proto([b"x"]))
    with tf.io.TFRecordWriter(str(model_dir / "assets.extra" /
                                  "tf_serving_warmup_requests")) as writer:
        writer.write(prediction_log_pb2.PredictionLog(
            predict_log=prediction_log_pb2.PredictLog(
                request=bad)).SerializeToString())

    report = executor.run_clean_check(request, str(tmp_path))
    assert prestarted.returncode == 0  # this process did the checks
    assert not executor._prestarted  # pylint: disable=protected-access
    checks = by_name(report)
    failed = sorted(name for name, check in checks.items()
                    if not check["passed"])
    assert failed == ["latency", "matches_trainer", "warmup_replays"]
    assert "p99_batch_64" in checks["latency"]["detail"]
    assert "over budget" in checks["latency"]["detail"]
    assert "probabilities: max |diff| 1.00e-02" in \
        checks["matches_trainer"]["detail"]
    assert "serving_default" in checks["warmup_replays"]["detail"]


def test_request_checks_add_no_cond_functions_to_the_pushed_model(
        japanese_vowels):
    """The serving signatures' request checks (three per feature) are plain
    Assert ops: no ``cond`` guard functions for TFMA, the ServingValidator
    and TF Serving to load (with int64 data there were 76 for 12 features,
    of 123 functions)."""
    _, summary = japanese_vowels
    with open(os.path.join(summary.pushed_path, "saved_model.pb"),
              "rb") as f:
        saved = saved_model_pb2.SavedModel.FromString(f.read())
    names = [f.signature.name
             for f in saved.meta_graphs[0].graph_def.library.function]
    assert not [name for name in names if "AssertGuard" in name]
    assert len(names) < 60, names


def test_an_unused_prestarted_clean_process_is_ended():
    executor.prestart_clean_process()
    executor.prestart_clean_process()  # still one
    assert len(executor._prestarted) == 1  # pylint: disable=protected-access
    prestarted = executor._prestarted[0]  # pylint: disable=protected-access
    executor.stop_prestarted()
    assert prestarted.poll() is not None
    assert not executor._prestarted  # pylint: disable=protected-access


def test_a_model_the_clean_process_cannot_load_is_refused(tmp_path):
    # A prestarted process that died meanwhile is replaced, not reported.
    executor.prestart_clean_process()
    executor._prestarted[0].kill()  # pylint: disable=protected-access
    executor._prestarted[0].wait()  # pylint: disable=protected-access
    report = executor.run_clean_check(
        {"model_dir": str(tmp_path), "examples": [], "features": ["x"],
         "budgets_ms": {}, "repeats": 1, "tolerance": 1e-5}, str(tmp_path))
    assert "clean serving process failed" in report["error"]
    assert "SavedModel file does not exist" in report["error"]


def test_nothing_is_checked_when_the_evaluator_refused(japanese_vowels,
                                                       tmp_path):
    config, _ = japanese_vowels
    root = os.path.join(config.output, "pipeline_root")
    model = standard_artifacts.Model()
    model.uri = only(os.path.join(root, "Trainer", "model", "*"))
    examples = standard_artifacts.Examples()
    examples.uri = only(os.path.join(root, "SequenceExampleGen", "examples",
                                     "*"))
    examples.split_names = '["train", "eval"]'
    refused = standard_artifacts.ModelBlessing()
    refused.set_int_custom_property("blessed", 0)
    blessing = standard_artifacts.InfraBlessing()
    blessing.uri = str(tmp_path / "blessing")
    os.makedirs(blessing.uri)
    executor.Executor().Do(
        {"model": [model], "examples": [examples],
         "model_blessing": [refused]}, {"blessing": [blessing]},
        {"features": json.dumps(config.spec.features), "model_name": "jv",
         "budgets_ms": "{}", "repeats": 1, "tolerance": 1e-5})
    assert blessing.get_int_custom_property("blessed") == 0
    assert blessing.get_int_custom_property("has_model") == 0
    text = (tmp_path / "blessing" / executor.REPORT_TEXT).read_text()
    assert "NOT BLESSED" in text and "Evaluator did not bless" in text
    assert not os.path.exists(tmp_path / "blessing" / "stamped_model")


def test_noisy_export_is_refused_and_nothing_is_pushed(tmp_path):
    # Without the linear path: with it, early stopping may keep the path
    # alone (the recurrent branch weighted 0), whose outputs the noise then
    # cannot change; its random op is refused all the same.
    config = PipelineConfig(
        dataset="schemas/japanese_vowels/dataset.yaml",
        output=str(tmp_path / "run"),
        model=ModelConfig(**SHORT, rocket_features=0),
        min_accuracy=0.0, run_fn="noisy_export.run_fn")
    summary = runner.run(config)
    assert summary.blessed is True  # the Evaluator alone would push it
    assert summary.serving_blessed is False
    assert summary.states["Pusher"] == "complete"
    assert summary.pushed_path is None
    assert not os.path.exists(config.serving_dir)
    report = summary.serving_report
    assert report.startswith("ServingValidator: NOT BLESSED")
    assert "[FAIL] no_random_ops" in report
    # The noise's random op (the layers draw normals from RandomUniform).
    assert "random ops in serving graphs: serving_default: Random" in report
    assert "[FAIL] deterministic" in report
    assert not glob.glob(os.path.join(config.output, "pipeline_root",
                                      "ServingValidator", "blessing", "*",
                                      "stamped_model"))
