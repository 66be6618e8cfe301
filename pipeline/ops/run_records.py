"""The record of a local run, read back from MLMD: per-component state and
duration, evaluation metrics, blessings, the ServingValidator's report and
the pushed path (`summarize_latest_run`, `print_summary`); and the MLMD
look-ups the progress monitor shares."""

import dataclasses
import json
import os
from typing import Dict, List, Optional

import tensorflow_model_analysis as tfma
from ml_metadata.proto import metadata_store_pb2
from tfx.orchestration import metadata

from noisy_rnn.pipeline.config import PipelineConfig
from noisy_rnn.schemas import contracts

FINAL_STATES = (metadata_store_pb2.Execution.COMPLETE,
                 metadata_store_pb2.Execution.CACHED,
                 metadata_store_pb2.Execution.FAILED,
                 metadata_store_pb2.Execution.CANCELED)
STATE_NAMES = {metadata_store_pb2.Execution.COMPLETE: "complete",
               metadata_store_pb2.Execution.CACHED: "cached",
               metadata_store_pb2.Execution.FAILED: "failed",
               metadata_store_pb2.Execution.RUNNING: "running",
               metadata_store_pb2.Execution.CANCELED: "canceled"}



def execution_seconds(execution):
    return (execution.last_update_time_since_epoch -
            execution.create_time_since_epoch) / 1000


def open_store(config):
    return metadata.Metadata(
        metadata.sqlite_metadata_connection_config(
            config.metadata_path))


# A run's context: "pipeline_run" (LocalDagRunner, Kubeflow) or "run"
# (TFX's Airflow runner, whose launcher names each component's execution by
# a "component_run" context instead of a "node" one).
RUN_CONTEXT_TYPES = ("pipeline_run", "run")


def latest_run(store, since_ms=0):
    runs = [c for kind in RUN_CONTEXT_TYPES
            for c in store.get_contexts_by_type(kind)
            if c.create_time_since_epoch >= since_ms]
    return max(runs, key=lambda c: c.create_time_since_epoch) if runs else None


@dataclasses.dataclass
class RunSummary:
    """What one run did, read back from MLMD."""

    states: Dict[str, str]
    seconds: Dict[str, float]
    metrics: Dict[str, float]
    blessed: Optional[bool]
    pushed_path: Optional[str]
    resolvers: List[str] = dataclasses.field(default_factory=list)
    wall_seconds: float = 0.0
    refusals: List[str] = dataclasses.field(default_factory=list)
    serving_blessed: Optional[bool] = None  # the ServingValidator's verdict
    serving_report: str = ""                # and its report.txt
    warm_start: Optional[dict] = None       # the Trainer's warm_start.json
    # The Trainer's data_choices.json: {option: {"value", "reason"}}.
    data_choices: Dict[str, dict] = dataclasses.field(default_factory=dict)
    model_id: Optional[int] = None          # the candidate Model artifact
    baseline_model_id: Optional[int] = None  # what the Evaluator compared to
    span: Optional[int] = None              # the data span read (latest)
    # A span window's spans, e.g. [3, 4] (empty: the latest span only).
    spans: List[int] = dataclasses.field(default_factory=list)
    schema_uri: Optional[str] = None        # the schema the run used
    drift: Optional[dict] = None            # the DriftGate's drift.json
    # SequenceExampleGen's counts: examples per split, skipped windows.
    example_counts: Dict[str, int] = dataclasses.field(default_factory=dict)
    report_path: Optional[str] = None       # the HTML run report
    report_seconds: Optional[float] = None  # and its render time
    tuning: Optional[dict] = None           # the Tuner's tuning.json

    def executed(self) -> List[str]:
        """Components that ran (not served from the cache); resolvers, which
        only query MLMD, are not components."""
        return sorted(n for n, s in self.states.items()
                      if s == "complete" and n not in self.resolvers)



def node_id(store, execution):
    """The component id of ``execution``: the last dotted part of its
    "node" ("<pipeline>.<id>") or "component_run" ("<run>.<id>") context;
    component ids hold no dot."""
    for context in store.get_contexts_by_execution(execution.id):
        if context.type in ("node", "component_run"):
            return context.name.rsplit(".", 1)[-1]
    return str(execution.id)


def _latest_output(store, executions_by_node, node, key):
    """The artifact a node's execution of this run output under ``key``."""
    execution = executions_by_node.get(node)
    if execution is None:
        return None
    events = [e for e in store.get_events_by_execution_ids([execution.id])
              if e.type in (metadata_store_pb2.Event.OUTPUT,
                            metadata_store_pb2.Event.DECLARED_OUTPUT)
              and any(step.key == key for step in e.path.steps)]
    if not events:
        return None
    return store.get_artifacts_by_id([events[-1].artifact_id])[0]


def summarize_latest_run(config: PipelineConfig,
                         run_id: Optional[int] = None) -> RunSummary:
    """Reads the latest pipeline run of ``config`` (or the ``pipeline_run``
    context ``run_id``) back from MLMD."""
    with open_store(config) as m:
        store = m.store
        latest = latest_run(store) if run_id is None else \
            store.get_contexts_by_id([run_id])[0]
        executions = store.get_executions_by_context(latest.id)
        by_node = {node_id(store, e): e for e in executions}
        states = {node: STATE_NAMES.get(e.last_known_state,
                                        str(e.last_known_state))
                  for node, e in by_node.items()}
        seconds = {node: execution_seconds(e) for node, e in by_node.items()}
        resolvers = [node for node, e in by_node.items()
                     if e.type.endswith("resolver.Resolver")]
        evaluation = _latest_output(store, by_node, "Evaluator", "evaluation")
        blessing = _latest_output(store, by_node, "Evaluator", "blessing")
        pushed = _latest_output(store, by_node, "Pusher", "pushed_model")
        infra = _latest_output(store, by_node, "ServingValidator", "blessing")
        model_run = _latest_output(store, by_node, "Trainer", "model_run")
        model = _latest_output(store, by_node, "Trainer", "model")
        schema = (_latest_output(store, by_node, "SchemaGen", "schema") or
                  _latest_output(store, by_node, "ImportSchemaGen", "schema"))
        drift = _latest_output(store, by_node, "DriftGate", "report")
        examples = _latest_output(store, by_node, "SequenceExampleGen",
                                  "examples")
        tuner_results = _latest_output(store, by_node, "Tuner",
                                       "tuner_results")

    metrics = {}
    if evaluation is not None:
        result = tfma.load_eval_result(evaluation.uri)
        for _, by_output in result.slicing_metrics[:1]:
            for name, value in by_output[""][""].items():
                if "doubleValue" in value:
                    metrics[name] = value["doubleValue"]
    blessed = None
    refusals = []
    if blessing is not None:
        blessed = blessing.custom_properties[contracts.BLESSED].int_value == 1
        if not blessed and evaluation is not None:
            refusals = refusal_reasons(
                tfma.load_validation_result(evaluation.uri), metrics)
    pushed_path = None
    if pushed is not None and \
            pushed.custom_properties[contracts.PUSHED].int_value:
        pushed_path = pushed.custom_properties[
            contracts.PUSHED_DESTINATION].string_value
    summary = RunSummary(states, seconds, metrics, blessed, pushed_path,
                         resolvers, refusals=refusals)
    summary.model_id = model.id if model is not None else None
    summary.schema_uri = schema.uri if schema is not None else None
    if drift is not None:
        path = os.path.join(drift.uri, contracts.DRIFT_REPORT_FILE)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                summary.drift = json.load(f)
    if examples is not None:
        properties = examples.custom_properties
        if contracts.SPAN in properties:
            summary.span = properties[contracts.SPAN].int_value
        if contracts.SPANS in properties:
            summary.spans = [int(n) for n in properties[
                contracts.SPANS].string_value.split(",")]
        summary.example_counts = {
            key: properties[key].int_value for key in properties
            if key.startswith("examples_") or
            key == contracts.SKIPPED_WINDOWS}
    if blessing is not None and \
            contracts.BASELINE_MODEL_ID in blessing.custom_properties:
        summary.baseline_model_id = blessing.custom_properties[
            contracts.BASELINE_MODEL_ID].int_value
    if model_run is not None:
        path = os.path.join(model_run.uri, contracts.DATA_CHOICES_FILE)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                summary.data_choices = json.load(f)
        path = os.path.join(model_run.uri, contracts.WARM_START_FILE)
        if os.path.exists(path):
            with open(path) as f:
                summary.warm_start = json.load(f)
    if tuner_results is not None:
        path = os.path.join(tuner_results.uri, contracts.TUNING_FILE)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                summary.tuning = json.load(f)
    if infra is not None:
        summary.serving_blessed = (
            infra.custom_properties[contracts.BLESSED].int_value == 1)
        report = os.path.join(infra.uri, contracts.SERVING_REPORT_TEXT)
        if os.path.exists(report):
            with open(report) as f:
                summary.serving_report = f.read()
    return summary


NAIVE_DESCRIPTIONS = {"persistence": "repeat the last value",
                      "seasonal_naive": "repeat the value one season back"}


def _threshold_text(threshold):
    """A TFMA value or change threshold in words."""
    for kind, bound in (("value_threshold", "upper_bound"),
                        ("value_threshold", "lower_bound"),
                        ("change_threshold", "absolute")):
        part = getattr(threshold, kind)
        if threshold.HasField(kind) and part.HasField(bound):
            value = getattr(part, bound).value
            return {"upper_bound": f"must be <= {value:.4g}",
                    "lower_bound": f"must be >= {value:.4g}",
                    "absolute": "must be no worse than the served model's"
                    }[bound]
    return str(threshold).replace("\n", " ")


def refusal_reasons(validation, metrics):
    """Why the Evaluator did not bless, one line per failed threshold,
    from its TFMA ``ValidationResult``; ``metrics`` (the candidate's values
    by name) supplies the numbers a line compares. Empty when blessed."""
    if validation.validation_ok:
        return []
    reasons = []
    for per_slice in validation.metric_validations_per_slice:
        for failure in per_slice.failures:
            name = failure.metric_key.name
            value = failure.metric_value.double_value.value
            forecast = name[len("mae_vs_"):] if name.startswith(
                "mae_vs_") else None
            if failure.message == "Metric not found.":
                reasons.append(f"{name}: not computed ({failure.message})")
            elif forecast in NAIVE_DESCRIPTIONS and \
                    not failure.metric_key.is_diff:
                mae = metrics.get("mean_absolute_error", float("nan"))
                naive = metrics.get(f"{forecast}_mae", float("nan"))
                reasons.append(
                    f"MAE {mae:.4g} is not below {forecast}'s {naive:.4g} "
                    f"({NAIVE_DESCRIPTIONS[forecast]}) on the same eval "
                    f"windows ({name} {value:.3g}): the model is worth less "
                    f"than the naive forecast")
            elif failure.metric_key.is_diff:
                reasons.append(
                    f"{name}: {metrics.get(name, float('nan')):.4g}, "
                    f"{value:+.4g} against the served model: "
                    f"{_threshold_text(failure.metric_threshold)}")
            else:
                reasons.append(f"{name} {value:.4g} "
                               f"{_threshold_text(failure.metric_threshold)}")
    if validation.missing_thresholds:
        reasons.append("a thresholded metric was not computed")
    return reasons or ["the Evaluator's validation failed (see its "
                       "validations file)"]


def describe_drift(report):
    """The DriftGate's report in one line: every distance and threshold."""
    if not report["compared"]:
        return f"drift check: skipped: {report['reason']}"
    return "drift check (vs the served model's training data): " + ", ".join(
        f"{d['split']} {d['feature']} {d['value']:.3g} "
        f"({'OVER' if d['exceeded'] else '<='} {d['threshold']:g})"
        for d in report["drifts"])


def setting_text(setting):
    """``--noise additive --noise-std 0.1 ...`` for a tuned setting."""
    return " ".join(f"--{name.replace('_', '-')} {value}"
                    for name, value in setting.items()
                    if not (name == "noise_std" and
                            setting.get("noise") == "none"))


def describe_tuning(tuning):
    """The Tuner's search in a few lines: how settings were scored, the
    chosen one and why, and whether noise helped."""
    # Imported here: it loads KerasTuner and TensorFlow's Trainer code.
    from noisy_rnn.pipeline.trainer.tuning import noise_sentence
    chosen = tuning["trials"][tuning["chosen"]]
    return [
        f"tuning: {len(tuning['trials'])} settings by {tuning['protocol']}, "
        f"{tuning['steps']}, {tuning['seconds']:.0f} s",
        f"  chosen: {setting_text(chosen['setting'])} ({tuning['objective']}"
        f" {chosen['mean']:.4g} +- {chosen['sd']:.2g}): {tuning['reason']}",
        f"  {noise_sentence(tuning)}"]


def spans_text(summary: RunSummary):
    """``span 4``, or a window's ``spans 3-4``."""
    if len(summary.spans) > 1:
        return f"spans {summary.spans[0]}-{summary.spans[-1]}"
    return f"span {summary.span}"


def print_summary(summary: RunSummary, echo=print):
    echo(f"pipeline finished in {summary.wall_seconds:.1f} s; executed: "
         f"{', '.join(summary.executed()) or 'nothing (all cached)'}")
    counts = summary.example_counts
    if counts:
        splits = [s for s in ("train", contracts.VALIDATION_SPLIT, "eval")
                  if f"examples_{s}" in counts]
        echo(("examples" + (f" of {spans_text(summary)}" if summary.span
                            is not None else "") + ": ") + ", ".join(
            f"{s} {counts[f'examples_{s}']}" for s in splits) +
            (f" ({counts[contracts.SKIPPED_WINDOWS]} windows skipped)"
             if counts.get(contracts.SKIPPED_WINDOWS) else ""))
    for name, value in sorted(summary.metrics.items()):
        echo(f"  {name}: {value:.4f}")
    if summary.drift:
        echo(describe_drift(summary.drift))
    for option, choice in sorted(summary.data_choices.items()):
        echo(f"chosen from the data: --{option.replace('_', '-')} "
             f"{choice['value']} ({choice['reason']})")
    if summary.tuning:
        for line in describe_tuning(summary.tuning):
            echo(line)
    if summary.warm_start:
        echo(f"warm start: {summary.warm_start['reason']}")
    echo(f"blessed: {summary.blessed}")
    for reason in summary.refusals:
        echo(f"  not blessed: {reason}")
    if summary.serving_report:
        echo(summary.serving_report.rstrip())
    echo(f"pushed: {summary.pushed_path or 'no'}")
    if summary.report_path:
        echo(f"report: {summary.report_path} (rendered in "
             f"{summary.report_seconds:.1f} s)")


def failed_components(config: PipelineConfig, since_ms=0) -> List[str]:
    """The components of the latest run (begun after ``since_ms``) that
    failed or were cut off while running; empty if there is no such run."""
    if not os.path.exists(config.metadata_path):
        return []
    with open_store(config) as m:
        latest = latest_run(m.store, since_ms)
        if latest is None:
            return []
        return sorted(
            node_id(m.store, e)
            for e in m.store.get_executions_by_context(latest.id)
            if e.last_known_state in (metadata_store_pb2.Execution.FAILED,
                                      metadata_store_pb2.Execution.RUNNING))
