"""What the run report shows, read from MLMD and the run's artifacts.

Every reader returns None (or an empty value) for what the run did not
produce, a failed or half-finished run included; the page then names the
missing part instead of failing. The model's eval-split predictions (the
confusion matrix, the forecast plot) are computed once per model and kept
in ``<output>/report/cache/``, so re-rendering is quick.
"""

import glob
import json
import os
import re
import types

import numpy as np
from ml_metadata.proto import metadata_store_pb2

from noisy_rnn.pipeline.ops import run_records
from noisy_rnn.schemas import contracts
from noisy_rnn.schemas.dataset_spec import DatasetSpec

PREDICTION_BATCH = 256


def store_config(output):
    """What `run_records.open_store` needs, from the output folder alone."""
    return types.SimpleNamespace(
        metadata_path=os.path.join(output, "metadata.sqlite"))


def list_runs(output):
    """The ``pipeline_run`` contexts in ``output``'s MLMD, oldest first
    (empty without a store)."""
    config = store_config(output)
    if not os.path.exists(config.metadata_path):
        return []
    with run_records.open_store(config) as m:
        runs = m.store.get_contexts_by_type("pipeline_run")
    return sorted(runs, key=lambda c: c.create_time_since_epoch)


def pipeline_name(output):
    """The pipeline's name in ``output``'s MLMD (the dataset spec's name
    unless set otherwise), or None."""
    with run_records.open_store(store_config(output)) as m:
        pipelines = m.store.get_contexts_by_type("pipeline")
    return pipelines[0].name if pipelines else None


def executions(output, run_id):
    """``{node: Execution}`` of one run."""
    with run_records.open_store(store_config(output)) as m:
        found = m.store.get_executions_by_context(run_id)
        return {run_records.node_id(m.store, e): e for e in found}


def output_artifact(output, execution, key):
    """The artifact ``execution`` output under ``key``, or None."""
    if execution is None:
        return None
    with run_records.open_store(store_config(output)) as m:
        store = m.store
        events = [e for e in store.get_events_by_execution_ids([execution.id])
                  if e.type == metadata_store_pb2.Event.OUTPUT and
                  any(step.key == key for step in e.path.steps)]
        if not events:
            return None
        return store.get_artifacts_by_id([events[-1].artifact_id])[0]


def timeline(by_node):
    """``[(node, state, start, end)]`` in seconds since the run's first
    execution started, in start order."""
    if not by_node:
        return []
    first = min(e.create_time_since_epoch for e in by_node.values())
    rows = [(node, run_records.STATE_NAMES.get(e.last_known_state, "unknown"),
             (e.create_time_since_epoch - first) / 1000,
             (e.last_update_time_since_epoch - first) / 1000)
            for node, e in by_node.items()]
    return sorted(rows, key=lambda row: (row[2], row[3]))


def trainer_settings(by_node):
    """``(DatasetSpec, ModelConfig fields)`` the Trainer was given, or
    ``(None, None)`` when the run did not reach it."""
    trainer = by_node.get("Trainer")
    if trainer is None or "custom_config" not in trainer.custom_properties:
        return None, None
    custom = json.loads(
        trainer.custom_properties["custom_config"].string_value)
    return DatasetSpec.from_dict(custom["dataset"]), custom["model"]


def read_json(directory, name):
    path = os.path.join(directory, name)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def split_statistics(statistics_uri):
    """``{split: [row]}``, one row per feature: examples holding it,
    missing, mean, std, min, max (numeric) or distinct values (strings)."""
    from tensorflow_data_validation import \
        load_stats_binary  # heavy: only when a report is rendered
    result = {}
    for path in sorted(glob.glob(os.path.join(statistics_uri, "Split-*",
                                              "FeatureStats.pb"))):
        split = os.path.basename(os.path.dirname(path))[len("Split-"):]
        dataset = load_stats_binary(path).datasets[0]
        rows = []
        for feature in dataset.features:
            name = ".".join(feature.path.step) or feature.name
            if feature.HasField("num_stats"):
                stats = feature.num_stats
                rows.append(dict(
                    feature=name, present=stats.common_stats.num_non_missing,
                    missing=stats.common_stats.num_missing,
                    values=stats.common_stats.avg_num_values,
                    mean=stats.mean, std=stats.std_dev, min=stats.min,
                    max=stats.max, unique=None))
            elif feature.HasField("string_stats"):
                stats = feature.string_stats
                rows.append(dict(
                    feature=name, present=stats.common_stats.num_non_missing,
                    missing=stats.common_stats.num_missing,
                    values=stats.common_stats.avg_num_values, mean=None,
                    std=None, min=None, max=None, unique=stats.unique))
        result[split] = dict(examples=dataset.num_examples, rows=rows)
    return result


def anomalies(anomalies_uri):
    """``{split: ["feature: description"]}`` from ExampleValidator."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2
    result = {}
    for path in sorted(glob.glob(os.path.join(anomalies_uri, "Split-*",
                                              "SchemaDiff.pb"))):
        split = os.path.basename(os.path.dirname(path))[len("Split-"):]
        found = anomalies_pb2.Anomalies()
        with open(path, "rb") as f:
            found.ParseFromString(f.read())
        result[split] = [f"{feature}: {info.description}"
                         for feature, info in
                         sorted(found.anomaly_info.items())]
        if found.HasField("dataset_anomaly_info"):
            result[split].append(
                f"dataset: {found.dataset_anomaly_info.description}")
    return result


def _metric_name(metric):
    if metric.config:
        forecast = json.loads(metric.config).get("forecast")
        if forecast:
            return f"mae_vs_{forecast}"
    return re.sub(r"(?<!^)(?=[A-Z])", "_", metric.class_name).lower()


def _bound_text(threshold):
    parts = []
    value = threshold.value_threshold
    if threshold.HasField("value_threshold"):
        if value.HasField("lower_bound"):
            parts.append(f">= {value.lower_bound.value:.4g}")
        if value.HasField("upper_bound") and value.upper_bound.value < 1e29:
            parts.append(f"<= {value.upper_bound.value:.4g}")
    if threshold.HasField("change_threshold"):
        parts.append("no worse than the baseline")
    return ", ".join(parts) or "none"


def evaluation_rows(evaluator, evaluation_uri, metrics):
    """One row per metric: candidate value, baseline value (when the
    Evaluator compared with one), threshold in words, failed or not."""
    import tensorflow_model_analysis as tfma
    from google.protobuf import json_format
    thresholds = {}
    if evaluator is not None and "eval_config" in evaluator.custom_properties:
        config = json_format.Parse(
            evaluator.custom_properties["eval_config"].string_value,
            tfma.EvalConfig())
        for spec in config.metrics_specs:
            for metric in spec.metrics:
                if metric.HasField("threshold"):
                    thresholds[_metric_name(metric)] = _bound_text(
                        metric.threshold)
    failed = set()
    validation = tfma.load_validation_result(evaluation_uri)
    for per_slice in validation.metric_validations_per_slice:
        for failure in per_slice.failures:
            failed.add(failure.metric_key.name)
    # TFMA's "<name>_diff" metrics: candidate minus baseline.
    return [dict(name=name, candidate=value,
                 baseline=(value - metrics[f"{name}_diff"]
                           if f"{name}_diff" in metrics else None),
                 threshold=thresholds.get(name), failed=name in failed)
            for name, value in sorted(metrics.items())
            if not name.endswith("_diff")]


def _eval_records(examples_uri):
    import tensorflow as tf
    files = sorted(glob.glob(os.path.join(examples_uri, "Split-eval", "*")))
    if not files:
        return []
    return [record.numpy() for record in
            tf.data.TFRecordDataset(files, compression_type="GZIP")]


def served_outputs(path, count):
    """The ServingValidator's ``serving_default`` outputs on the eval split
    (`contracts.SERVING_EVAL_OUTPUTS`, written by its clean process):
    ``{output: [value per example]}``, classes decoded; None when absent or
    not for ``count`` examples."""
    found = read_json(os.path.dirname(path), os.path.basename(path)) \
        if path else None
    if not found or found.get("examples") != count:
        return None
    return found["outputs"]


def _model_outputs(model_uri, records, key):
    """``{key: [...], least_squares_ar: [...] (if the model has it)}``
    from the model's ``serving_default`` on ``records``, as
    `served_outputs` gives them."""
    import tensorflow as tf
    model = tf.saved_model.load(os.path.join(model_uri, "Format-Serving"))
    serve = model.signatures[contracts.SERVING_DEFAULT]
    outputs = {}
    for start in range(0, len(records), PREDICTION_BATCH):
        batch = tf.constant(records[start:start + PREDICTION_BATCH])
        result = serve(**{contracts.EXAMPLES_INPUT: batch})
        for name in (key, contracts.LEAST_SQUARES_AR):
            if name in result:  # the AR: not in older models
                outputs.setdefault(name, []).append(
                    result[name].numpy().reshape(-1))
    return {name: [v.decode() if isinstance(v, bytes) else v
                   for v in np.concatenate(parts).tolist()]
            for name, parts in outputs.items()}


def predictions(output, model_uri, model_id, examples_uri, spec,
                served=None):
    """The model's predictions on the eval split beside the truth (and,
    forecasting a channel, persistence's and the least-squares AR's
    forecasts), cached per model: classification ``{"truth": [...],
    "predicted": [...]}``, regression ``{"step": [...], "series": [...],
    "actual": [...], "predicted": [...], "persistence": [...] or None,
    "least_squares_ar": [...] or None}``. ``served``: the path of the
    ServingValidator's outputs for this model (see `served_outputs`); the
    model is loaded here only without them."""
    cache = os.path.join(output, "report", "cache",
                         f"predictions-{model_id}.json")
    cached = read_json(os.path.dirname(cache), os.path.basename(cache))
    if cached is not None:
        return cached
    import tensorflow as tf
    records = _eval_records(examples_uri)
    if not records:
        return None
    key = (contracts.CLASSES if spec.task == "classification"
           else contracts.PREDICTION)
    result = served_outputs(served, len(records))
    if result is None or key not in result:
        result = _model_outputs(model_uri, records, key)
    predicted = result[key]
    ar = result.get(contracts.LEAST_SQUARES_AR)
    examples = [tf.train.Example.FromString(r).features.feature
                for r in records]
    if spec.task == "classification":
        found = {"truth": [e[spec.label].bytes_list.value[0].decode()
                           for e in examples],
                 "predicted": predicted}
    else:
        label = spec.label_feature
        found = {"actual": [e[label].float_list.value[0] for e in examples],
                 "predicted": [float(p) for p in predicted],
                 "step": [e[contracts.TARGET_STEP_FEATURE].int64_list.value[0]
                          if contracts.TARGET_STEP_FEATURE in e else i
                          for i, e in enumerate(examples)],
                 "series": [e[contracts.SEQUENCE_ID_FEATURE].bytes_list
                            .value[0].decode()
                            if contracts.SEQUENCE_ID_FEATURE in e else ""
                            for e in examples],
                 "persistence": ([e[spec.label].float_list.value[-1]
                                  for e in examples]
                                 if spec.forecasts_own_channel else None),
                 contracts.LEAST_SQUARES_AR: (
                     [float(v) for v in ar] if ar is not None else None)}
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    with open(cache, "w", encoding="utf-8") as f:
        json.dump(found, f)
    return found
