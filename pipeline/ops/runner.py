"""Runs the pipeline locally (LocalDagRunner, Beam DirectRunner) and reports.

While it runs, each component's start and end is printed with its duration
and state (complete, or cached); afterwards the run is summarised from MLMD:
per-component state, evaluation metrics, the blessing, the ServingValidator's
report and the pushed path. Every run, failed ones included, ends by writing
the HTML run report (`noisy_rnn.pipeline.ops.report`).
"""


import os
import time

from tfx.orchestration.local.local_dag_runner import LocalDagRunner

from noisy_rnn.components.serving_validator import \
    executor as serving_validator
from noisy_rnn.pipeline.config import PipelineConfig
from noisy_rnn.pipeline.ops import frozen_schema, report, spans
from noisy_rnn.pipeline.ops.progress import ProgressMonitor
from noisy_rnn.pipeline.ops.run_records import (RunSummary,
                                                failed_components,
                                                print_summary,
                                                summarize_latest_run)
from noisy_rnn.pipeline.pipeline import create_pipeline

__all__ = ["RunSummary", "check_local", "failed_components",
           "print_summary", "run", "summarize_latest_run"]


def check_local(config: PipelineConfig):
    """ValueError unless ``output`` (and ``spans_dir``) are local paths: a
    local run keeps MLMD in SQLite and takes file locks there. (URIs such as
    gs:// are for compiled pipelines.)"""
    for option, value in (("--output", config.output),
                          ("--spans-dir", config.spans_dir)):
        if value and "://" in value:
            raise ValueError(f"{option} {value}: a local run needs a local "
                             f"folder (URIs are for compile-kubeflow)")


# Components that run only once the data has passed the gates, and before
# the ServingValidator: the first of them to execute (not cached) starts its
# clean process.
PRESTART_ON = ("Transform", "Tuner", "Trainer", "Evaluator")


def prestart_when_needed(node):
    """Starts the ServingValidator's clean process (its TensorFlow import
    overlaps the components before it) once ``node``, one of `PRESTART_ON`,
    executes: a run refused at the gates, or served from the cache, does not
    pay for a process it never uses."""
    if node in PRESTART_ON:
        serving_validator.prestart_clean_process()


def run(config: PipelineConfig, echo=print, status=None,
        log_path=None) -> RunSummary:
    """Compiles and runs the pipeline, then writes the run report; returns
    its `RunSummary`. ``status``: a live progress line (see
    `ProgressMonitor`); ``log_path``: the run's log, named in the report."""
    check_local(config)
    if config.spans_window > 1:  # refused here, before anything runs
        _, note = spans.window_spans(config.spans_dir, config.spans_window)
        echo(f"data: {note} of {config.spans_dir}")
    os.makedirs(config.output, exist_ok=True)
    start = time.perf_counter()
    monitor = ProgressMonitor(config, echo, since_ms=int(time.time() * 1000),
                              status=status, on_start=prestart_when_needed)
    monitor.start()
    failure = None
    try:
        pipeline = create_pipeline(config)
        LocalDagRunner().run(pipeline)
    except Exception as error:
        failure = error
        raise
    finally:
        serving_validator.stop_prestarted()
        monitor.stop()
        if failure is not None:  # a report of what exists, then the error
            first = (str(failure).strip().splitlines() or [""])[0]
            written = write_report(config, echo,
                                   f"{type(failure).__name__}: {first}",
                                   log_path)
            if written:
                echo(f"report: {written[0]} (rendered in {written[1]:.1f} s)")
    summary = summarize_latest_run(config)
    summary.wall_seconds = time.perf_counter() - start
    if frozen_schema.freeze(config, summary):
        echo(f"schema frozen: {config.frozen_schema_path} (later runs "
             f"validate against it; `noisy-rnn export-schema` to curate it)")
    written = write_report(config, echo, None, log_path)
    if written:
        summary.report_path, summary.report_seconds = written
    return summary


def write_report(config, echo, error, log_path):
    """The run report: ``(path, seconds to render)``, or None (said with
    ``echo``) when it could not be written: the run's outcome stands."""
    try:
        return report.write_report(config.output, error=error,
                                   log_path=log_path)
    except Exception as failure:  # pylint: disable=broad-except
        echo(f"report: not written: {type(failure).__name__}: {failure}")
        return None
