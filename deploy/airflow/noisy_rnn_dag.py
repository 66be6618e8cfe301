"""Airflow DAG: the tfx-noisy-rnn pipeline on the latest data span,
retrained daily with warm start.

`make airflow-venv` builds an Airflow 2 environment with this project
(``.venv-airflow``, from ``deploy/airflow/requirements.lock``); docs/
retraining.md shows how to schedule this file. TFX's AirflowDagRunner turns
each component into an Airflow task, in the same order as `noisy-rnn run`:
the gates fail their task when they refuse the data (nothing is pushed, the
served version stays), ``latest_pushed_model`` gives the Trainer its warm
start, the Evaluator and the ServingValidator gate the push. The DAG's id is
the pipeline's name (the dataset's name).

Set, in Airflow's environment:
  NOISY_RNN_DATASET  a bundled dataset name or a dataset.yaml (default co2)
  NOISY_RNN_OUTPUT   the output folder (pipeline root, MLMD, serving/)
  NOISY_RNN_SPANS    the folder of span-<N>/ folders; each run reads the
                     latest span (or the latest K with --spans-window K)
  NOISY_RNN_OPTIONS  any other `noisy-rnn run` options, e.g.
                     "--train-steps 300 --latency-budget p99_ms=50"

There is no "no new span" check here (`noisy-rnn retrain` has one): with
warm start, a run on an unchanged span retrains from the served model and
goes through the gates again; trigger the DAG on span arrival (a sensor)
rather than on a clock if that matters.
"""

import datetime
import os
import shlex

from tfx.orchestration.airflow.airflow_dag_runner import (
    AirflowDagRunner, AirflowPipelineConfig)

from noisy_rnn.pipeline import cli
from noisy_rnn.pipeline.pipeline import create_pipeline

SCHEDULE = "@daily"
CONFIG = cli.pipeline_config([
    "--dataset", os.environ.get("NOISY_RNN_DATASET", "co2"),
    "--output", os.environ.get("NOISY_RNN_OUTPUT", "/data/noisy-rnn/co2"),
    "--spans-dir", os.environ.get("NOISY_RNN_SPANS", "/data/incoming/co2"),
    "--warm-start", *shlex.split(os.environ.get("NOISY_RNN_OPTIONS", ""))])

DAG = AirflowDagRunner(AirflowPipelineConfig(airflow_dag_config={
    "schedule_interval": SCHEDULE,
    "start_date": datetime.datetime(2026, 1, 1),
    "catchup": False,
    "max_active_runs": 1,  # never two retrains at once
    "default_args": {"retries": 0},  # a refused span fails the run
})).run(create_pipeline(CONFIG))
