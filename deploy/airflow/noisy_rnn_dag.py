"""Airflow DAG: the tfx-noisy-rnn pipeline on CO2 spans, retrained daily.

Copy this file into Airflow's ``dags/`` folder on a machine where this
project is installed (its wheel, ``make wheel``, installed with the lock as
constraints, plus ``apache-airflow`` and ``tfx[airflow]``), and set the
paths below (shared storage for multi-worker Airflow). The dataset is the
bundled CO2 spec, found by name in the installed package. TFX's
AirflowDagRunner turns each component into an Airflow task, in the same order as `noisy-rnn run`;
``latest_pushed_model`` gives the Trainer its warm start, the Evaluator and
the ServingValidator gate the push, exactly as locally. Each daily run reads
the latest ``span-<N>/`` folder. Note: there is no "no new span" check here
(`noisy-rnn retrain` has one): with warm start, a run on an unchanged span
retrains from the served model and goes through the gate again; trigger the
DAG on span arrival (e.g. a sensor) rather than on a clock if that matters.
"""

import datetime
import os

from tfx.orchestration.airflow.airflow_dag_runner import (
    AirflowDagRunner, AirflowPipelineConfig)

from noisy_rnn.pipeline.config import PipelineConfig
from noisy_rnn.pipeline.pipeline import create_pipeline

SCHEDULE = "@daily"
CONFIG = PipelineConfig(
    dataset=os.environ.get("NOISY_RNN_DATASET", "co2"),
    output=os.environ.get("NOISY_RNN_OUTPUT", "/data/noisy-rnn/co2"),
    spans_dir=os.environ.get("NOISY_RNN_SPANS", "/data/incoming/co2"),
    warm_start=True)

DAG = AirflowDagRunner(AirflowPipelineConfig(airflow_dag_config={
    "dag_id": "noisy_rnn_co2",
    "schedule_interval": SCHEDULE,
    "start_date": datetime.datetime(2026, 1, 1),
    "catchup": False,
    "max_active_runs": 1,  # never two retrains at once
})).run(create_pipeline(CONFIG))
