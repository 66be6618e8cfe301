"""Runs the pipeline locally (LocalDagRunner, Beam DirectRunner) and reports.

While it runs, each component's start and end is printed with its duration
(cached executions are marked); afterwards the run is summarised from MLMD:
per-component state, evaluation metrics, the blessing and the pushed path.
"""

import dataclasses
import logging
import os
import time
from typing import Dict, List, Optional

import tensorflow_model_analysis as tfma
from ml_metadata.proto import metadata_store_pb2
from tfx import v1 as tfx
from tfx.orchestration import metadata

from pipeline.config import PipelineConfig
from pipeline.pipeline import create_pipeline

STATE_NAMES = {metadata_store_pb2.Execution.COMPLETE: "complete",
               metadata_store_pb2.Execution.CACHED: "cached",
               metadata_store_pb2.Execution.FAILED: "failed",
               metadata_store_pb2.Execution.RUNNING: "running",
               metadata_store_pb2.Execution.CANCELED: "canceled"}


class _ProgressHandler(logging.Handler):
    """Turns LocalDagRunner's log lines into component start/end lines."""

    def __init__(self, echo):
        super().__init__(logging.INFO)
        self.echo, self.started, self.cached = echo, {}, set()
        self.current = None

    def emit(self, record):
        if record.msg == "Component %s is running.":
            self.current = record.args[0]
            self.started[self.current] = time.perf_counter()
            self.echo(f"  {self.current:<28} started")
        elif record.msg == "A cached execution %d is used.":
            self.cached.add(self.current)
        elif record.msg == "Component %s is finished.":
            node = record.args[0]
            seconds = time.perf_counter() - self.started.get(node, 0)
            note = " (cached)" if node in self.cached else ""
            self.echo(f"  {node:<28} finished in {seconds:6.1f} s{note}")


@dataclasses.dataclass
class RunSummary:
    """What one run did, read back from MLMD."""

    states: Dict[str, str]
    seconds: Dict[str, float]
    metrics: Dict[str, float]
    blessed: Optional[bool]
    pushed_path: Optional[str]
    wall_seconds: float = 0.0

    def executed(self) -> List[str]:
        """Components that ran (not served from the cache)."""
        return sorted(n for n, s in self.states.items() if s == "complete")


def run(config: PipelineConfig, echo=print, verbose=False) -> RunSummary:
    """Compiles and runs the pipeline; returns its `RunSummary`."""
    os.makedirs(config.output, exist_ok=True)
    absl_logger = logging.getLogger("absl")
    handler = _ProgressHandler(echo)
    saved = absl_logger.level, absl_logger.propagate
    absl_logger.setLevel(logging.INFO)
    absl_logger.propagate = verbose
    absl_logger.addHandler(handler)
    start = time.perf_counter()
    try:
        tfx.orchestration.LocalDagRunner().run(create_pipeline(config))
    finally:
        absl_logger.removeHandler(handler)
        absl_logger.setLevel(saved[0])
        absl_logger.propagate = saved[1]
    summary = summarize_latest_run(config)
    summary.wall_seconds = time.perf_counter() - start
    return summary


def _node_id(store, execution):
    for context in store.get_contexts_by_execution(execution.id):
        if context.type == "node":
            return context.name.split(".", 1)[-1]
    return str(execution.id)


def _latest_output(store, executions, node, key):
    """The artifact a node's execution of this run output under ``key``."""
    for execution in executions:
        if _node_id(store, execution) != node:
            continue
        events = [e for e in store.get_events_by_execution_ids([execution.id])
                  if e.type in (metadata_store_pb2.Event.OUTPUT,
                                metadata_store_pb2.Event.DECLARED_OUTPUT)
                  and any(step.key == key for step in e.path.steps)]
        if events:
            return store.get_artifacts_by_id([events[-1].artifact_id])[0]
    return None


def summarize_latest_run(config: PipelineConfig) -> RunSummary:
    """Reads the latest pipeline run of ``config`` back from MLMD."""
    connection = tfx.orchestration.metadata.sqlite_metadata_connection_config(
        config.metadata_path)
    with metadata.Metadata(connection) as m:
        store = m.store
        runs = [c for c in store.get_contexts_by_type("pipeline_run")]
        latest = max(runs, key=lambda c: c.create_time_since_epoch)
        executions = store.get_executions_by_context(latest.id)
        states, seconds = {}, {}
        for execution in executions:
            node = _node_id(store, execution)
            states[node] = STATE_NAMES.get(execution.last_known_state,
                                           str(execution.last_known_state))
            seconds[node] = (execution.last_update_time_since_epoch -
                             execution.create_time_since_epoch) / 1000
        evaluation = _latest_output(store, executions, "Evaluator",
                                    "evaluation")
        blessing = _latest_output(store, executions, "Evaluator", "blessing")
        pushed = _latest_output(store, executions, "Pusher", "pushed_model")

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
    return RunSummary(states, seconds, metrics, blessed, pushed_path)


def print_summary(summary: RunSummary, echo=print):
    echo(f"pipeline finished in {summary.wall_seconds:.1f} s; executed: "
         f"{', '.join(summary.executed()) or 'nothing (all cached)'}")
    for name, value in sorted(summary.metrics.items()):
        echo(f"  {name}: {value:.4f}")
    echo(f"blessed: {summary.blessed}")
    echo(f"pushed: {summary.pushed_path or 'no'}")
