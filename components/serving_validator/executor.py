"""ServingValidator executor: stamp the candidate with warmup requests, run
the clean-process checks, bless or refuse, write a readable report."""

import json
import os
import subprocess
import sys
import tempfile
from typing import Any, Dict, List

import tensorflow as tf
from absl import logging
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2
from tfx import types
from tfx.components.util import model_utils
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils, path_utils

from noisy_rnn.components.serving_validator import clean_check
from noisy_rnn.schemas import contracts

CLEAN_CHECK = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "clean_check.py")
REFERENCE_DIR = contracts.SERVING_REFERENCE_DIR  # written by the Trainer
REPORT_JSON = contracts.SERVING_REPORT_JSON
REPORT_TEXT = contracts.SERVING_REPORT_TEXT
BLESSED_KEY = contracts.BLESSED
HAS_MODEL_KEY = contracts.HAS_MODEL  # Pusher pushes the stamped model when set
WARMUP_BATCH_SIZES = (1, 64)
# The outputs the run report plots, written for every eval example.
EVAL_OUTPUT_KEYS = [contracts.CLASSES, contracts.PREDICTION,
                    contracts.LEAST_SQUARES_AR]


def eval_example_files(examples: types.Artifact) -> List[str]:
    split_uri = artifact_utils.get_split_uri([examples], "eval")
    return sorted(tf.io.gfile.glob(os.path.join(split_uri, "*")))


def warmup_requests(records, features, model_name):
    """`PredictionLog` s for TF Serving's warmup: both serving signatures at
    each of `WARMUP_BATCH_SIZES`, from real eval examples."""
    logs = []
    for batch in WARMUP_BATCH_SIZES:
        chosen = [records[i % len(records)] for i in range(batch)]
        values, lengths = clean_check.to_sequences(tf.constant(chosen),
                                                   features)
        for signature, inputs in (
                (contracts.SERVING_DEFAULT,
                 {contracts.EXAMPLES_INPUT: tf.constant(chosen)}),
                (contracts.SERVING_SEQUENCES,
                 {contracts.VALUES_INPUT: values,
                  contracts.LENGTHS_INPUT: lengths})):
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name,
                                               signature_name=signature))
            for key, tensor in inputs.items():
                request.inputs[key].CopyFrom(tf.make_tensor_proto(
                    tensor.numpy()))
            logs.append(prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)))
    return logs


def format_report(report, blessed):
    """The report as text: verdict, then one line per check."""
    lines = [f"ServingValidator: {'BLESSED' if blessed else 'NOT BLESSED'}"]
    if report.get("skipped"):
        lines.append(f"  skipped: {report['skipped']}")
    if report.get("error"):
        lines.append(f"  error: {report['error']}")
    for check in report.get("checks", []):
        mark = "ok  " if check["passed"] else "FAIL"
        lines.append(f"  [{mark}] {check['name']}: {check['detail']}")
    return "\n".join(lines) + "\n"


# At most one clean process started ahead of its request (see
# `prestart_clean_process`).
_prestarted: List[subprocess.Popen] = []


def _start_clean_process():
    """``python -I clean_check.py -``: no user site, no cwd on the path, the
    project blocked inside; it waits for its request path on stdin."""
    return subprocess.Popen([sys.executable, "-I", CLEAN_CHECK, "-"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def prestart_clean_process():
    """Starts the clean process now, so that its TensorFlow import (~4 s)
    overlaps the components that run before the ServingValidator (a second
    core does it); the next `run_clean_check` in this Python process hands
    it its request. For in-process orchestration (LocalDagRunner): call
    `stop_prestarted` when the pipeline is done."""
    if not _prestarted:
        _prestarted.append(_start_clean_process())


def stop_prestarted():
    """Ends a prestarted clean process that no ServingValidator used (e.g.
    the run was cached or stopped before)."""
    while _prestarted:
        process = _prestarted.pop()
        process.kill()
        process.communicate()


def run_clean_check(request, work_dir):
    """Runs clean_check.py in a clean process (the prestarted one, if any).
    Returns the report dict, or one with an ``error`` when the process fails
    (e.g. the model does not load without the project)."""
    request = dict(request, report=os.path.join(work_dir, "clean.json"))
    request_path = os.path.join(work_dir, "request.json")
    with open(request_path, "w") as f:
        json.dump(request, f)
    process = _prestarted.pop() if _prestarted else None
    if process is None or process.poll() is not None:  # none, or it died
        process = _start_clean_process()
    _, stderr = process.communicate(request_path + "\n")
    if process.returncode != 0:
        tail = [line for line in stderr.strip().splitlines()
                if line.strip()][-1:] or ["(no output)"]
        return {"error": f"the clean serving process failed (exit "
                         f"{process.returncode}): {tail[0]}"}
    with open(request["report"]) as f:
        return json.load(f)


class Executor(base_executor.BaseExecutor):
    """See `ServingValidator`."""

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        blessing = artifact_utils.get_single_instance(output_dict["blessing"])
        model = artifact_utils.get_single_instance(input_dict["model"])
        evaluator = input_dict.get("model_blessing")
        report = {"checks": []}
        if evaluator and not model_utils.is_model_blessed(
                artifact_utils.get_single_instance(evaluator)):
            report["skipped"] = ("the Evaluator did not bless this model; "
                                 "nothing to validate for serving")
        else:
            report = self._validate(model, input_dict, exec_properties,
                                    blessing)
        blessed = (not report.get("skipped") and not report.get("error") and
                   all(check["passed"] for check in report["checks"]))
        # Which model this blessing is about (as ModelBlessing records it).
        blessing.set_int_custom_property(contracts.CURRENT_MODEL_ID, model.id)
        self._finish(blessing, report, blessed)

    def _validate(self, model, input_dict, exec_properties, blessing):
        records_files = eval_example_files(
            artifact_utils.get_single_instance(input_dict["examples"]))
        features = json.loads(exec_properties["features"])
        stamped = path_utils.stamped_model_path(blessing.uri)
        io_utils.copy_dir(path_utils.serving_model_path(model.uri), stamped)
        records = clean_check.read_records(records_files)
        io_utils.write_tfrecord_file(
            os.path.join(stamped, clean_check.WARMUP_FILE),
            *warmup_requests(records, features,
                             exec_properties["model_name"]))
        request = {"model_dir": stamped, "examples": records_files,
                   "features": features,
                   "budgets_ms": json.loads(exec_properties["budgets_ms"]),
                   "repeats": exec_properties["repeats"],
                   "tolerance": exec_properties["tolerance"]}
        model_run = input_dict.get("model_run")
        if model_run:
            reference = os.path.join(
                artifact_utils.get_single_instance(model_run).uri,
                REFERENCE_DIR)
            request["reference_examples"] = os.path.join(
                reference, "examples.tfrecord")
            request["reference_outputs"] = os.path.join(reference,
                                                        "outputs.npz")
        # Request/report files stay local (the artifact may be on gs://).
        with tempfile.TemporaryDirectory() as work_dir:
            outputs = os.path.join(work_dir, contracts.SERVING_EVAL_OUTPUTS)
            report = run_clean_check(dict(
                request, eval_outputs=outputs,
                eval_output_keys=EVAL_OUTPUT_KEYS), work_dir)
            if os.path.exists(outputs):
                io_utils.copy_file(outputs, os.path.join(
                    blessing.uri, contracts.SERVING_EVAL_OUTPUTS), True)
        report.setdefault("checks", [])
        if report.get("project_importable"):
            report["checks"].append({
                "name": "clean_process", "passed": False,
                "detail": "the project was importable in the check process"})
        return report

    def _finish(self, blessing, report, blessed):
        stamped = path_utils.stamped_model_path(blessing.uri)
        if not blessed and tf.io.gfile.exists(stamped):
            tf.io.gfile.rmtree(stamped)  # never leave a pushable copy
        io_utils.write_string_file(
            os.path.join(blessing.uri, REPORT_JSON),
            json.dumps(dict(report, blessed=blessed), indent=2))
        text = format_report(report, blessed)
        io_utils.write_string_file(os.path.join(blessing.uri, REPORT_TEXT),
                                   text)
        io_utils.write_string_file(os.path.join(
            blessing.uri, "INFRA_BLESSED" if blessed else
            "INFRA_NOT_BLESSED"), "")
        blessing.set_int_custom_property(BLESSED_KEY, int(blessed))
        blessing.set_int_custom_property(HAS_MODEL_KEY, int(blessed))
        logging.info("%s", text)
