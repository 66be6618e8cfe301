"""Runs the pipeline locally (LocalDagRunner, Beam DirectRunner) and reports.

While it runs, each component's start and end is printed with its duration
and state (complete, or cached); afterwards the run is summarised from MLMD:
per-component state, evaluation metrics, the blessing, the ServingValidator's
report and the pushed path.
"""


import os
import time

from tfx.orchestration.local.local_dag_runner import LocalDagRunner

from noisy_rnn.components.serving_validator import \
    executor as serving_validator
from noisy_rnn.pipeline.config import PipelineConfig
from noisy_rnn.pipeline.ops import frozen_schema
from noisy_rnn.pipeline.ops.progress import ProgressMonitor
from noisy_rnn.pipeline.ops.run_records import (RunSummary, print_summary,
                                                summarize_latest_run)
from noisy_rnn.pipeline.pipeline import create_pipeline

__all__ = ["RunSummary", "check_local", "print_summary", "run",
           "summarize_latest_run"]


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
    monitor = ProgressMonitor(config, echo, since_ms=int(time.time() * 1000))
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
    if frozen_schema.freeze(config, summary):
        echo(f"schema frozen: {config.frozen_schema_path} (later runs "
             f"validate against it; `noisy-rnn export-schema` to curate it)")
    return summary
