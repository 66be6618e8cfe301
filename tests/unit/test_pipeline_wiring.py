"""Pipeline wiring that needs no run: Beam arguments, which split chooses
the model, and the Evaluator's metrics and thresholds."""

import json

import numpy as np
import pytest
import tensorflow_model_analysis as tfma
import tf_keras

from noisy_rnn.pipeline.config import ModelConfig, PipelineConfig
from noisy_rnn.pipeline.pipeline import beam_args, create_pipeline, eval_config
from noisy_rnn.pipeline.trainer import metrics

SPEC = "japanese_vowels"


def _config(tmp_path, *args, worker_package=None):
    config = PipelineConfig(dataset=SPEC, output=str(tmp_path),
                            worker_package=worker_package)
    if args:
        config.beam_pipeline_args = list(args)
    return config


def test_direct_runner_needs_no_worker_package(tmp_path):
    # No Beam arguments at all: TFX then does not package itself either.
    assert beam_args(_config(tmp_path)) == []
    given = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
    assert beam_args(_config(tmp_path, *given)) == given


def test_worker_package_is_shipped_as_wheel_or_setup_file(tmp_path):
    wheel = tmp_path / "tfx_noisy_rnn-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"")
    assert beam_args(_config(tmp_path, worker_package=str(wheel))) == [
        f"--extra_package={wheel}"]
    setup_file = tmp_path / "setup.py"
    setup_file.write_text("")
    assert beam_args(_config(tmp_path, "--runner=FlinkRunner",
                             worker_package=str(setup_file))) == [
        "--runner=FlinkRunner", f"--setup_file={setup_file}"]


def test_bad_worker_package_is_refused_with_what_to_pass(tmp_path):
    with pytest.raises(ValueError, match="no such file.*pip wheel"):
        beam_args(_config(tmp_path, worker_package=str(tmp_path / "x.whl")))
    (tmp_path / "code.tar.gz").write_bytes(b"")
    with pytest.raises(ValueError, match=r"expected a wheel \(\.whl\)"):
        beam_args(_config(tmp_path,
                          worker_package=str(tmp_path / "code.tar.gz")))


def test_remote_runner_without_the_project_code_is_refused(tmp_path):
    with pytest.raises(ValueError, match="FlinkRunner's workers need this "
                                         "project's code.*--worker-package"):
        beam_args(_config(tmp_path, "--runner=FlinkRunner"))
    # A dependency flag of the user's own is respected as given.
    for given in (["--runner=FlinkRunner", "--setup_file=/elsewhere/setup.py"],
                  ["--runner=SparkRunner", "--extra_package", "/dist/x.whl"],
                  ["--runner=PortableRunner",
                   "--sdk_container_image=example.com/beam:1"]):
        assert beam_args(_config(tmp_path, *given)) == given


def test_pipeline_carries_the_beam_args(tmp_path):
    pipeline = create_pipeline(_config(tmp_path))
    assert pipeline.beam_pipeline_args == beam_args(_config(tmp_path))


@pytest.mark.parametrize("name", ["SparseCategoricalAccuracy",
                                  "MeanAbsoluteError", "RootMeanSquaredError"])
def test_evaluator_metrics_compute_what_the_stock_ones_do(name):
    ours, stock = getattr(metrics, name)(), getattr(tf_keras.metrics, name)()
    assert type(ours).__name__ == name and ours.name == stock.name
    rng = np.random.default_rng(0)
    if name == "SparseCategoricalAccuracy":
        labels = rng.integers(0, 4, size=(50, 1))
        predictions = rng.random((50, 4)).astype("float32")
    else:
        labels = rng.normal(size=(50, 1)).astype("float32")
        predictions = rng.normal(size=(50, 1)).astype("float32")
    for metric in (ours, stock):
        metric.update_state(labels[:20], predictions[:20])
        metric.update_state(labels[20:], predictions[20:])
    assert float(ours.result()) == pytest.approx(float(stock.result()),
                                                 abs=1e-7)


@pytest.mark.parametrize("runner", ["direct", "DirectRunner", "directrunner",
                                    "BundleBasedDirectRunner"])
def test_every_spelling_of_the_direct_runner_needs_no_package(tmp_path,
                                                              runner):
    given = [f"--runner={runner}"]
    assert beam_args(_config(tmp_path, *given)) == given


def _node(pipeline, node_id):
    [node] = [c for c in pipeline.components if c.id == node_id]
    return node


def test_model_selection_uses_the_validation_slice_not_eval(tmp_path):
    pipeline = create_pipeline(_config(tmp_path))
    example_gen = _node(pipeline, "SequenceExampleGen")
    output = json.loads(example_gen.exec_properties["output_config"])
    assert [s["name"] for s in output["split_config"]["splits"]] == [
        "train", "validation", "eval"]
    trainer = _node(pipeline, "Trainer")
    assert json.loads(trainer.exec_properties["eval_args"])["splits"] == [
        "validation"]
    evaluator = _node(pipeline, "Evaluator")
    assert json.loads(evaluator.exec_properties["example_splits"]) == ["eval"]


def test_no_validation_slice_needs_early_stopping_off(tmp_path):
    with pytest.raises(ValueError, match=r"--validation-fraction: 0 leaves "
                                         r"early stopping nothing to watch.*"
                                         r"--early-stopping-patience 0"):
        PipelineConfig(dataset=SPEC, output=str(tmp_path),
                       model=ModelConfig(validation_fraction=0))
    config = PipelineConfig(dataset=SPEC, output=str(tmp_path),
                            model=ModelConfig(validation_fraction=0,
                                              early_stopping_patience=0))
    trainer = _node(create_pipeline(config), "Trainer")
    assert json.loads(trainer.exec_properties["eval_args"])["splits"] == [
        "train"]


def _naive_thresholds(config):
    [metrics_spec] = eval_config(config).metrics_specs
    return {json.loads(m.config)["forecast"]: (
        json.loads(m.config).get("position"),
        m.threshold.value_threshold.upper_bound.value
        if m.HasField("threshold") else None)
        for m in metrics_spec.metrics
        if m.class_name == "NaiveForecastComparison"}


def test_evaluator_holds_a_forecast_below_the_naive_ones(tmp_path):
    config = PipelineConfig(dataset="co2", output=str(tmp_path))
    # window 52, horizon 1, season 52: one season back is the first step.
    # The least-squares AR (the model's own output) is reported, no gate.
    assert _naive_thresholds(config) == {
        "persistence": (-1, pytest.approx(1)),
        "seasonal_naive": (0, pytest.approx(1)), "ar": (None, None)}
    config.beat_naive = False
    assert _naive_thresholds(config) == {"persistence": (-1, None),
                                         "seasonal_naive": (0, None),
                                         "ar": (None, None)}
    assert _naive_thresholds(_config(tmp_path)) == {}  # classification


def test_evaluator_is_told_the_model_type_for_both_tasks(tmp_path):
    # Told, TFMA loads each model through its signatures; untold, it first
    # rebuilds the model as a Keras model just to guess the type.
    for config in (_config(tmp_path),
                   PipelineConfig(dataset="co2", output=str(tmp_path))):
        [model_spec] = eval_config(config).model_specs
        assert model_spec.model_type == tfma.TF_GENERIC


def test_latency_budgets_from_the_command_line_reach_the_servingvalidator(
        tmp_path, capsys):
    from noisy_rnn.pipeline import cli  # pylint: disable=import-outside-toplevel
    parser = cli.build_parser()
    args = parser.parse_args([
        "run", "--dataset", SPEC, "--output", str(tmp_path),
        "--latency-budget", "p99_batch_64=300",
        "--latency-budget", "p50_batch_1=25"])
    config = cli._pipeline_config(args)  # pylint: disable=protected-access
    assert config.latency_budgets_ms == {"p99_batch_64": 300.0,
                                         "p50_batch_1": 25.0}
    [validator] = [c for c in create_pipeline(config).components
                   if c.id == "ServingValidator"]
    budgets = json.loads(validator.exec_properties["budgets_ms"])
    assert budgets == {"p50_batch_1": 25.0, "p99_batch_1": 50.0,
                       "p50_batch_64": 60.0, "p99_batch_64": 300.0}
    for wrong, message in (("p99_batch_32=5", "unknown budget 'p99_batch_32'"),
                           ("p99_batch_64=-1", "MS a positive number"),
                           ("p99_batch_64", "MS a positive number")):
        with pytest.raises(SystemExit):
            parser.parse_args(["run", "--dataset", SPEC, "--output",
                               str(tmp_path), "--latency-budget", wrong])
        assert message in capsys.readouterr().err
