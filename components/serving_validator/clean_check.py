"""Serving checks on a SavedModel, run in a clean process as TF Serving
would load it: TensorFlow (and the TF Serving protos) only, the project
blocked from import.

``python -I clean_check.py REQUEST.json`` (or ``-``: the request's path is
read from stdin, so the process can be started, and TensorFlow imported,
before the request exists) reads the request (keys below),
runs every check and writes the report JSON to ``request["report"]``:

- ``model_dir``: the SavedModel; ``examples``: gzipped TFRecord files of
  real eval ``tf.Example`` s; ``features``: the channel order of
  ``serving_sequences``; ``reference_examples`` / ``reference_outputs``:
  the Trainer's in-process outputs on some examples (optional);
  ``budgets_ms``: ``{"p50_batch_1": ms, "p99_batch_1": ..., "p50_batch_64":
  ..., "p99_batch_64": ...}`` for sequences of up to 100 steps (scaled in
  proportion for longer ones); ``repeats``: timed calls per batch size;
  ``tolerance``: max abs difference allowed against the reference;
  ``eval_outputs`` (optional): where to write ``serving_default`` 's
  outputs named in ``eval_output_keys`` on every eval example, in file
  order (see `write_eval_outputs`): the run report's predictions, from the
  process that loads the model as TF Serving does, so the report need not
  load it a second time.

The report: ``{"checks": [{"name", "passed", "detail"}], "latency_ms":
{...}, "project_importable": bool}``. Stands alone on purpose: importing
anything from the project here would defeat the check.
"""

import importlib.abc
import io
import json
import os
import sys
import time

PROJECT_PACKAGES = ("noisy_rnn",)
# Latency budgets are for sequences of up to this many steps (see
# `check_latency`).
BUDGET_STEPS = 100
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_EXAMPLES = 256
# Examples per call when writing every eval example's outputs.
OUTPUTS_BATCH = 256


class _BlockProject(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in PROJECT_PACKAGES:
            raise ImportError(f"{name} is blocked in this clean process")
        return None


if __name__ == "__main__":  # before TensorFlow is imported
    sys.meta_path.insert(0, _BlockProject())
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def _project_importable():
    try:
        from noisy_rnn import layers  # noqa: F401  pylint: disable=import-outside-toplevel
        return True
    except ImportError:
        return False


def op_types(concrete_function):
    """Op types in a signature's graph and its whole function library."""
    graph_def = concrete_function.graph.as_graph_def()
    return ({node.op for node in graph_def.node} |
            {node.op for fn in graph_def.library.function
             for node in fn.node_def})


def read_records(paths, limit=MAX_EXAMPLES, compression="GZIP"):
    """Serialized records of TFRecord ``paths``, at most ``limit`` (-1: all)."""
    dataset = tf.data.TFRecordDataset(list(paths),
                                      compression_type=compression)
    return [record.numpy() for record in dataset.take(limit)]


def to_sequences(records, features):
    """``values [batch, time, channels]`` and ``lengths`` from examples."""
    parsed = tf.io.parse_example(
        records, {f: tf.io.VarLenFeature(tf.float32) for f in features})
    values = tf.stack([tf.sparse.to_dense(parsed[f]) for f in features], -1)
    lengths = tf.cast(tf.sparse.reduce_sum(tf.sparse.map_values(
        tf.ones_like, parsed[features[0]]), axis=1), tf.int32)
    return values, lengths


def _numpy(outputs):
    return {key: value.numpy() for key, value in outputs.items()}


def check_random_ops(signatures):
    found = {name: sorted(op for op in op_types(fn) if "Random" in op)
             for name, fn in signatures.items()}
    bad = {name: ops for name, ops in found.items() if ops}
    detail = (f"no op type containing 'Random' in {sorted(found)} "
              f"(graphs and function libraries)" if not bad else
              "random ops in serving graphs: " +
              "; ".join(f"{name}: {', '.join(ops)}"
                        for name, ops in sorted(bad.items())))
    return {"name": "no_random_ops", "passed": not bad, "detail": detail}


def identical(a, b):
    """Bit-identical arrays (string outputs compared by value: an object
    array's bytes are pointers)."""
    if a.dtype == object or b.dtype == object:
        return a.shape == b.shape and a.tolist() == b.tolist()
    return a.dtype == b.dtype and a.shape == b.shape and \
        a.tobytes() == b.tobytes()


def check_deterministic(calls, repeats=3):
    """Each signature called ``repeats`` times on the same real batch must
    give bit-identical outputs. Returns the check and each signature's
    first outputs."""
    differing, firsts = [], {}
    for name, call in calls.items():
        first = firsts[name] = _numpy(call())
        for _ in range(repeats - 1):
            again = _numpy(call())
            differing += [f"{name}.{key}" for key in first
                          if not identical(first[key], again[key])]
    detail = (f"{repeats} calls per signature ({', '.join(sorted(calls))}) "
              f"bit-identical" if not differing else
              "outputs differ between identical calls: " +
              ", ".join(sorted(set(differing))))
    return {"name": "deterministic", "passed": not differing,
            "detail": detail}, firsts


def check_signatures_agree(default_outputs, sequences_outputs, tolerance):
    """``serving_default`` and ``serving_sequences`` on the same examples."""
    worst = max(float(np.max(np.abs(
        default_outputs[key].astype(np.float64) -
        sequences_outputs[key].astype(np.float64))))
        for key in default_outputs
        if default_outputs[key].dtype.kind == "f")
    return {"name": "signatures_agree", "passed": worst <= tolerance,
            "detail": f"serving_default vs serving_sequences: max |diff| "
                      f"{worst:.2e} (tolerance {tolerance:.0e})"}


def check_reference(signature, request):
    """The exported graph reproduces the Trainer's in-process outputs."""
    records = read_records([request["reference_examples"]], compression="")
    with tf.io.gfile.GFile(request["reference_outputs"], "rb") as f:
        buffer = io.BytesIO(f.read())  # np.load seeks; any filesystem
    with np.load(buffer) as reference:
        outputs = _numpy(signature(examples=tf.constant(records)))
        worst = {key: float(np.max(np.abs(outputs[key].astype(np.float64) -
                                          reference[key])))
                 for key in reference.files}
    tolerance = request["tolerance"]
    passed = all(value <= tolerance for value in worst.values())
    detail = ", ".join(f"{key}: max |diff| {value:.2e}"
                       for key, value in sorted(worst.items()))
    return {"name": "matches_trainer", "passed": passed,
            "detail": f"{len(records)} eval examples vs the Trainer's "
                      f"in-process outputs: {detail} (tolerance "
                      f"{tolerance:.0e})"}


def check_warmup(model_dir, signatures):
    """Replays the warmup file as TF Serving does at load."""
    # Not a project import: the TF Serving API protos ship separately.
    from tensorflow_serving.apis import prediction_log_pb2  # pylint: disable=import-outside-toplevel
    path = os.path.join(model_dir, WARMUP_FILE)
    if not tf.io.gfile.exists(path):
        return {"name": "warmup_replays", "passed": False,
                "detail": f"no warmup file {WARMUP_FILE}"}
    replayed, errors = 0, []
    for record in read_records([path], limit=-1, compression=""):
        request = prediction_log_pb2.PredictionLog.FromString(
            record).predict_log.request
        name = request.model_spec.signature_name or "serving_default"
        try:
            signatures[name](**{key: tf.constant(tf.make_ndarray(proto))
                                for key, proto in request.inputs.items()})
            replayed += 1
        except Exception as error:  # pylint: disable=broad-except
            errors.append(f"{name}: {str(error).splitlines()[0]}")
    return {"name": "warmup_replays", "passed": replayed > 0 and not errors,
            "detail": f"{replayed} warmup request(s) replayed" +
                      (f"; failed: {'; '.join(errors)}" if errors else "")}


def measure_latency(signature, records, repeats):
    """p50/p99 milliseconds of ``serving_default`` at batch 1 and 64."""
    latency = {}
    for batch in (1, 64):
        examples = tf.constant([records[i % len(records)]
                                for i in range(batch)])
        for _ in range(5):
            signature(examples=examples)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            signature(examples=examples)
            times.append((time.perf_counter() - start) * 1e3)
        latency[f"p50_batch_{batch}"] = float(np.percentile(times, 50))
        latency[f"p99_batch_{batch}"] = float(np.percentile(times, 99))
    return latency


def check_latency(latency, budgets, steps=BUDGET_STEPS):
    """Latency against ``budgets``, which hold for sequences of up to
    ``BUDGET_STEPS`` steps and grow in proportion beyond: a model must read
    every step of a longer sequence, so the timed requests' longest
    sequence (``steps``) scales them."""
    factor = max(1.0, steps / BUDGET_STEPS)
    scaled = {key: value * factor for key, value in budgets.items()}
    over = [f"{key} {latency[key]:.2f} ms > {scaled[key]:g} ms"
            for key in sorted(scaled) if latency[key] > scaled[key]]
    measured = ", ".join(f"{key} {latency[key]:.2f} ms (budget "
                         f"{scaled[key]:g})" for key in sorted(scaled))
    note = (f" (budgets x {factor:.2f} for {steps}-step sequences)"
            if factor > 1 else "")
    return {"name": "latency", "passed": not over,
            "detail": (("over budget: " + "; ".join(over)) if over
                       else measured) + note}


def run_checks(request):
    loaded = tf.saved_model.load(request["model_dir"])
    signatures = dict(loaded.signatures)
    # Every eval example when their outputs are asked for (one read).
    every = read_records(request["examples"],
                         limit=-1 if request.get("eval_outputs")
                         else MAX_EXAMPLES)
    records = every[:MAX_EXAMPLES]
    default = signatures["serving_default"]
    batch = tf.constant(records)
    calls = {"serving_default": lambda: default(examples=batch)}
    sequences = signatures.get("serving_sequences")
    values, lengths = to_sequences(batch, request["features"])
    if sequences is not None:
        calls["serving_sequences"] = lambda: sequences(values=values,
                                                       lengths=lengths)
    deterministic, outputs = check_deterministic(calls)
    checks = [check_random_ops(signatures), deterministic]
    if sequences is not None:
        checks.append(check_signatures_agree(
            outputs["serving_default"], outputs["serving_sequences"],
            request["tolerance"]))
    else:
        checks.append({"name": "signatures_agree", "passed": False,
                       "detail": "no serving_sequences signature"})
    if request.get("reference_outputs"):
        checks.append(check_reference(default, request))
    checks.append(check_warmup(request["model_dir"], signatures))
    latency = measure_latency(default, records, request["repeats"])
    checks.append(check_latency(latency, request["budgets_ms"],
                                int(tf.reduce_max(lengths))))
    if request.get("eval_outputs"):
        write_eval_outputs(default, every, request)
    return {"checks": checks, "latency_ms": latency,
            "examples": len(records), "signatures": sorted(signatures),
            "project_importable": _project_importable()}


def write_eval_outputs(default, records, request):
    """``default`` 's outputs named in ``request["eval_output_keys"]``
    (those the model has), one value per record of ``records`` (every eval
    example, in file order), as JSON ``{"examples": count, "outputs": {key:
    [...]}}`` at ``request["eval_outputs"]``."""
    found = {}
    for start in range(0, len(records), OUTPUTS_BATCH):
        outputs = default(examples=tf.constant(
            records[start:start + OUTPUTS_BATCH]))
        for key in request["eval_output_keys"]:
            if key in outputs:
                values = outputs[key].numpy().reshape(-1).tolist()
                found.setdefault(key, []).extend(
                    v.decode() if isinstance(v, bytes) else v
                    for v in values)
    with open(request["eval_outputs"], "w") as f:
        json.dump({"examples": len(records), "outputs": found}, f)


def main(request_path):
    with open(request_path) as f:
        request = json.load(f)
    report = run_checks(request)
    with open(request["report"], "w") as f:
        json.dump(report, f, indent=2)


if __name__ == "__main__":
    if sys.argv[1] == "-":
        path = sys.stdin.readline().strip()
        if path:  # nothing: the caller did not need this process after all
            main(path)
    else:
        main(sys.argv[1])
