"""Runs the pipeline locally (LocalDagRunner, Beam DirectRunner) and reports.

While it runs, each component's start and end is printed with its duration
and state (complete, or cached); afterwards the run is summarised from MLMD:
per-component state, evaluation metrics, the blessing, the ServingValidator's
report and the pushed path.
"""

import dataclasses
import json
import os
import threading
import time
from typing import Dict, List, Optional

import tensorflow_model_analysis as tfma
from ml_metadata.proto import metadata_store_pb2
from tfx.orchestration import metadata
from tfx.orchestration.local.local_dag_runner import LocalDagRunner

from components.serving_validator import executor as serving_validator
from pipeline.config import PipelineConfig
from pipeline.pipeline import create_pipeline

_FINAL_STATES = (metadata_store_pb2.Execution.COMPLETE,
                 metadata_store_pb2.Execution.CACHED,
                 metadata_store_pb2.Execution.FAILED,
                 metadata_store_pb2.Execution.CANCELED)
STATE_NAMES = {metadata_store_pb2.Execution.COMPLETE: "complete",
               metadata_store_pb2.Execution.CACHED: "cached",
               metadata_store_pb2.Execution.FAILED: "failed",
               metadata_store_pb2.Execution.RUNNING: "running",
               metadata_store_pb2.Execution.CANCELED: "canceled"}


class _ProgressMonitor(threading.Thread):
    """Prints each component's start and end by polling MLMD.

    (TFX components reset absl's log level while they run, so watching the
    runner's log lines is unreliable; MLMD's executions are the record.)
    """

    def __init__(self, config, echo, since_ms, interval=0.5):
        super().__init__(daemon=True)
        self.config, self.echo, self.since_ms = config, echo, since_ms
        self.interval, self.done = interval, threading.Event()
        self.nodes, self.finished = {}, set()  # by execution id

    def run(self):
        while not self.done.wait(self.interval):
            self.poll()
        self.poll()

    def stop(self):
        self.done.set()
        self.join()

    def poll(self):
        if not os.path.exists(self.config.metadata_path):
            return
        try:
            with _metadata(self.config) as m:
                run = _latest_run(m.store, self.since_ms)
                if run is None:
                    return
                executions = sorted(m.store.get_executions_by_context(run.id),
                                    key=lambda e: e.id)
                for execution in executions:
                    self._report(m.store, execution)
        except Exception:  # pylint: disable=broad-except
            return  # the store is being created or locked; next poll

    def _report(self, store, execution):
        if execution.id in self.finished:
            return
        if execution.id not in self.nodes:
            self.nodes[execution.id] = _node_id(store, execution)
            self.echo(f"  {self.nodes[execution.id]:<28} started")
        state = execution.last_known_state
        if state in _FINAL_STATES:
            self.finished.add(execution.id)
            self.echo(f"  {self.nodes[execution.id]:<28} "
                      f"{STATE_NAMES[state]:<9} {_seconds(execution):6.1f} s")


def _seconds(execution):
    return (execution.last_update_time_since_epoch -
            execution.create_time_since_epoch) / 1000


def _metadata(config):
    return metadata.Metadata(
        metadata.sqlite_metadata_connection_config(
            config.metadata_path))


def _latest_run(store, since_ms=0):
    runs = [c for c in store.get_contexts_by_type("pipeline_run")
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
    serving_blessed: Optional[bool] = None  # the ServingValidator's verdict
    serving_report: str = ""                # and its report.txt
    warm_start: Optional[dict] = None       # the Trainer's warm_start.json
    model_id: Optional[int] = None          # the candidate Model artifact
    baseline_model_id: Optional[int] = None  # what the Evaluator compared to
    span: Optional[int] = None              # the data span read

    def executed(self) -> List[str]:
        """Components that ran (not served from the cache); resolvers, which
        only query MLMD, are not components."""
        return sorted(n for n, s in self.states.items()
                      if s == "complete" and n not in self.resolvers)


def check_local(config: PipelineConfig):
    """ValueError unless ``output`` (and ``spans_dir``) are local paths: a
    local run keeps MLMD in SQLite and takes file locks there. (URIs such as
    gs:// are for compiled pipelines.)"""
    for option, value in (("--output", config.output),
                          ("--spans-dir", config.spans_dir)):
        if value and "://" in value:
            raise ValueError(f"{option} {value}: a local run needs a local "
                             f"folder (URIs are for compile-kubeflow)")


def run(config: PipelineConfig, echo=print) -> RunSummary:
    """Compiles and runs the pipeline; returns its `RunSummary`."""
    check_local(config)
    os.makedirs(config.output, exist_ok=True)
    start = time.perf_counter()
    monitor = _ProgressMonitor(config, echo, since_ms=int(time.time() * 1000))
    monitor.start()
    try:
        pipeline = create_pipeline(config)
        # The ServingValidator's clean process imports TensorFlow meanwhile.
        serving_validator.prestart_clean_process()
        LocalDagRunner().run(pipeline)
    finally:
        serving_validator.stop_prestarted()
        monitor.stop()
    summary = summarize_latest_run(config)
    summary.wall_seconds = time.perf_counter() - start
    return summary


def _node_id(store, execution):
    for context in store.get_contexts_by_execution(execution.id):
        if context.type == "node":
            return context.name.split(".", 1)[-1]
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


def summarize_latest_run(config: PipelineConfig) -> RunSummary:
    """Reads the latest pipeline run of ``config`` back from MLMD."""
    with _metadata(config) as m:
        store = m.store
        latest = _latest_run(store)
        executions = store.get_executions_by_context(latest.id)
        by_node = {_node_id(store, e): e for e in executions}
        states = {node: STATE_NAMES.get(e.last_known_state,
                                        str(e.last_known_state))
                  for node, e in by_node.items()}
        seconds = {node: _seconds(e) for node, e in by_node.items()}
        resolvers = [node for node, e in by_node.items()
                     if e.type.endswith("resolver.Resolver")]
        evaluation = _latest_output(store, by_node, "Evaluator", "evaluation")
        blessing = _latest_output(store, by_node, "Evaluator", "blessing")
        pushed = _latest_output(store, by_node, "Pusher", "pushed_model")
        infra = _latest_output(store, by_node, "ServingValidator", "blessing")
        model_run = _latest_output(store, by_node, "Trainer", "model_run")
        model = _latest_output(store, by_node, "Trainer", "model")
        examples = _latest_output(store, by_node, "SequenceExampleGen",
                                  "examples")

    metrics = {}
    if evaluation is not None:
        result = tfma.load_eval_result(evaluation.uri)
        for _, by_output in result.slicing_metrics[:1]:
            for name, value in by_output[""][""].items():
                if "doubleValue" in value:
                    metrics[name] = value["doubleValue"]
    blessed = None
    if blessing is not None:
        blessed = blessing.custom_properties["blessed"].int_value == 1
    pushed_path = None
    if pushed is not None and pushed.custom_properties["pushed"].int_value:
        pushed_path = pushed.custom_properties[
            "pushed_destination"].string_value
    summary = RunSummary(states, seconds, metrics, blessed, pushed_path,
                         resolvers)
    summary.model_id = model.id if model is not None else None
    if examples is not None and "span" in examples.custom_properties:
        summary.span = examples.custom_properties["span"].int_value
    if blessing is not None and \
            "baseline_model_id" in blessing.custom_properties:
        summary.baseline_model_id = blessing.custom_properties[
            "baseline_model_id"].int_value
    if model_run is not None:
        path = os.path.join(model_run.uri, "warm_start.json")
        if os.path.exists(path):
            with open(path) as f:
                summary.warm_start = json.load(f)
    if infra is not None:
        summary.serving_blessed = (
            infra.custom_properties["blessed"].int_value == 1)
        report = os.path.join(infra.uri, "report.txt")
        if os.path.exists(report):
            with open(report) as f:
                summary.serving_report = f.read()
    return summary


def print_summary(summary: RunSummary, echo=print):
    echo(f"pipeline finished in {summary.wall_seconds:.1f} s; executed: "
         f"{', '.join(summary.executed()) or 'nothing (all cached)'}")
    for name, value in sorted(summary.metrics.items()):
        echo(f"  {name}: {value:.4f}")
    if summary.warm_start:
        echo(f"warm start: {summary.warm_start['reason']}")
    echo(f"blessed: {summary.blessed}")
    if summary.serving_report:
        echo(summary.serving_report.rstrip())
    echo(f"pushed: {summary.pushed_path or 'no'}")
