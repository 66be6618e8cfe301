"""The Airflow DAG (``deploy/airflow/noisy_rnn_dag.py``) run for real by
Airflow 2 (``.venv-airflow``, `make airflow-venv`), one DAG run per span
arriving, with ``airflow dags test``: every component an Airflow task; the
first span pushes; a corrupted second fails at the gate's task, pushes
nothing and leaves the served version; the next run, with that span's good
data, resumes from the first span's model, warm-starts and pushes. Then, on
disjoint spans, a run with ``--spans-window 2`` trains on the latest two."""

import csv
import json
import os
import pathlib
import shutil
import subprocess

import pytest
from conftest import LOOSE_BUDGET_FLAGS

from noisy_rnn.pipeline.config import PipelineConfig
from noisy_rnn.pipeline.ops import run_records, spans

REPO = pathlib.Path(__file__).resolve().parents[2]
AIRFLOW = REPO / ".venv-airflow" / "bin" / "airflow"
DAG_ID = "co2"  # the pipeline's name: the dataset's
OPTIONS = ["--units", "32", "--train-steps", "100", "--eval-every", "50",
           *LOOSE_BUDGET_FLAGS]
COMPONENTS = {"SequenceExampleGen", "StatisticsGen", "ImportSchemaGen",
              "ExampleValidator", "AnomaliesGate", "DriftGate", "Transform",
              "Trainer", "Evaluator", "ServingValidator", "Pusher"}


@pytest.fixture(scope="module")
def airflow(tmp_path_factory):
    """``(run(date) -> (exit code, log), env, tmp)``: an Airflow home with
    its SQLite DB and the DAG, its data folders under ``tmp``."""
    if not (REPO / ".venv-airflow" / ".installed").exists():
        subprocess.run(["make", "airflow-venv"], cwd=REPO, check=True)
    tmp = tmp_path_factory.mktemp("airflow")
    (tmp / "home" / "dags").mkdir(parents=True)
    shutil.copy(REPO / "deploy" / "airflow" / "noisy_rnn_dag.py",
                tmp / "home" / "dags")
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
           "AIRFLOW_HOME": str(tmp / "home"),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           # Parsing imports TFX and TensorFlow: slow on a loaded machine.
           "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "600",
           "NOISY_RNN_DATASET": "co2", "NOISY_RNN_OUTPUT": str(tmp / "out"),
           "NOISY_RNN_SPANS": str(tmp / "in"),
           "NOISY_RNN_OPTIONS": " ".join(OPTIONS),
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    migrated = subprocess.run([AIRFLOW, "db", "migrate"], env=env,
                              capture_output=True, text=True, check=False)
    assert migrated.returncode == 0, migrated.stderr[-3000:]

    def run(date, **changes):
        """``airflow dags test`` for ``date``, the environment changed by
        ``changes`` (each run parses the DAG file again)."""
        done = subprocess.run([AIRFLOW, "dags", "test", DAG_ID, date],
                              env={**env, **changes}, capture_output=True,
                              text=True, check=False)
        return done.returncode, done.stdout + done.stderr

    return run, env, tmp


def task_states(env, date):
    """``{task_id: state}`` of the DAG run of ``date`` (`dags test`'s run
    id), from Airflow's own database."""
    done = subprocess.run(
        [AIRFLOW, "tasks", "states-for-dag-run", DAG_ID,
         f"manual__{date}T00:00:00+00:00", "--output", "json"],
        env=env, capture_output=True, text=True, check=True)
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    return {row["task_id"]: row["state"] for row in rows}


def versions(config):
    folder = pathlib.Path(config.serving_dir)
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def run_summary(config, date):
    """The MLMD record of the DAG run of ``date``."""
    name = f"{DAG_ID}.manual__{date}T00:00:00+00:00"
    with run_records.open_store(config) as m:
        context = m.store.get_context_by_type_and_name("run", name)
    assert context is not None, f"no MLMD run context {name}"
    return run_records.summarize_latest_run(config, run_id=context.id)


def corrupt(source, dest):
    """``source`` with its last 30 CO2 values in ppb, not ppm."""
    with open(source, newline="") as f:
        rows = list(csv.reader(f))
    for row in rows[-30:]:
        if row[3]:
            row[3] = str(float(row[3]) * 1000)
    dest.parent.mkdir(parents=True)
    with open(dest, "w", newline="") as f:
        csv.writer(f).writerows(rows)


@pytest.fixture(scope="module")
def history(airflow):
    """Three DAG runs: span 1 good, span 2 corrupted, then span 2 replaced
    by good data. Returns ``(config, env, [(date, exit code, log,
    served versions after)])``."""
    run, env, tmp = airflow
    config = PipelineConfig(dataset="co2", output=str(tmp / "out"),
                            spans_dir=str(tmp / "in"))
    spans.split_into_spans(str(REPO / "data" / "co2" / "co2.csv"), "week",
                           tmp / "arriving", 3)
    (tmp / "in").mkdir()
    runs = []
    for date, arrive in (("2026-12-01", "good-1"), ("2026-12-02", "bad-2"),
                         ("2026-12-03", "good-2")):
        kind, number = arrive.split("-")
        target = tmp / "in" / f"span-{number}"
        if kind == "bad":
            corrupt(tmp / "arriving" / f"span-{number}" / "co2.csv",
                    target / "co2.csv")
        else:
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(tmp / "arriving" / f"span-{number}", target)
        code, log = run(date)
        runs.append((date, code, log, versions(config)))
    return config, env, runs


def test_every_component_runs_as_an_airflow_task_and_the_first_span_pushes(
        history):
    config, env, runs = history
    date, code, log, served = runs[0]
    assert code == 0, log[-4000:]
    states = task_states(env, date)
    assert COMPONENTS <= set(states), sorted(states)
    assert all(state == "success" for state in states.values()), states
    summary = run_summary(config, date)
    assert summary.span == 1 and summary.blessed is True
    assert summary.pushed_path and len(served) == 1
    assert summary.warm_start["used"] is False  # nothing served yet


def test_a_corrupted_span_fails_at_the_gates_task_and_pushes_nothing(
        history):
    config, env, runs = history
    date, code, log, served = runs[1]
    assert code != 0
    states = task_states(env, date)
    assert states["AnomaliesGate"] == "failed", states
    assert states["SequenceExampleGen"] == "success"
    for task in ("Transform", "Trainer", "Evaluator", "Pusher"):
        assert states[task] in ("upstream_failed", None), (task, states)
    assert "AnomaliesFound" in log and "feature 'co2'" in log
    assert served == runs[0][3]  # the served version is untouched
    assert run_summary(config, date).span == 2


def test_the_span_after_the_refused_one_warm_starts_and_pushes(history):
    """Every task succeeded, read span 2, started from the served model
    and pushed the second version."""
    config, env, runs = history
    date, code, log, served = runs[2]
    assert code == 0, log[-4000:]
    assert set(task_states(env, date).values()) == {"success"}
    summary = run_summary(config, date)
    assert summary.span == 2 and summary.warm_start["used"] is True
    assert summary.pushed_path and len(served) == 2
    assert os.path.basename(summary.pushed_path) == served[-1]


def test_the_next_run_with_good_data_resumes_from_the_served_model(history):
    """The refused run left nothing the next one builds on: it starts from
    the first span's pushed model, its data is checked for drift against
    that model's training data, and the Evaluator compares the candidate
    with that model (the resolvers pick this run's candidate out of every
    model and statistics the legacy Airflow driver hands them)."""
    config, _, runs = history
    first = run_summary(config, runs[0][0])
    resumed = run_summary(config, runs[2][0])
    with run_records.open_store(config) as m:
        [model] = m.store.get_artifacts_by_id([first.model_id])
    assert resumed.warm_start["base_model"].startswith(model.uri)
    assert resumed.drift["compared"] is True, resumed.drift
    assert "mean_absolute_error_diff" in resumed.metrics, resumed.metrics
    assert resumed.model_id != first.model_id


# Airflow's own DagBag parses the DAG folder, as its scheduler does.
_DAG_SETTINGS = """
import json, os
from airflow.models import DagBag
bag = DagBag(os.path.join(os.environ["AIRFLOW_HOME"], "dags"),
             include_examples=False)
assert not bag.import_errors, bag.import_errors
dag = bag.get_dag("co2")
print(json.dumps({"schedule": str(dag.schedule_interval),
                  "max_active_runs": dag.max_active_runs,
                  "retries": dag.default_args.get("retries"),
                  "tasks": sorted(dag.task_ids)}))
"""


def test_the_dag_is_daily_one_run_at_a_time_without_retries(airflow):
    _, env, _ = airflow
    shown = subprocess.run(
        [REPO / ".venv-airflow" / "bin" / "python", "-c", _DAG_SETTINGS],
        env=env, capture_output=True, text=True, check=False)
    assert shown.returncode == 0, shown.stderr[-3000:]
    settings = json.loads(shown.stdout.strip().splitlines()[-1])
    assert settings["schedule"] == "@daily"
    assert settings["max_active_runs"] == 1 and settings["retries"] == 0
    assert COMPONENTS <= set(settings["tasks"])


def test_a_window_of_spans_under_airflow(airflow):
    """Four disjoint spans, ``--spans-window 2`` in the DAG's options: the
    run's examples come from spans 3 and 4 only."""
    run, env, tmp = airflow
    spans.split_into_spans(str(REPO / "data" / "co2" / "co2.csv"), "week",
                           tmp / "disjoint", 4, cumulative=False)
    date = "2026-12-05"
    code, log = run(date, NOISY_RNN_SPANS=str(tmp / "disjoint"),
                    NOISY_RNN_OUTPUT=str(tmp / "windowed"),
                    NOISY_RNN_OPTIONS=" ".join(OPTIONS +
                                               ["--spans-window", "2"]))
    assert code == 0, log[-4000:]
    config = PipelineConfig(dataset="co2", output=str(tmp / "windowed"),
                            spans_dir=str(tmp / "disjoint"), spans_window=2)
    summary = run_summary(config, date)
    assert summary.span == 4 and summary.spans == [3, 4]
