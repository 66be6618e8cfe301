"""Retraining never ships a model trained on broken data, even for a spec
without a curated schema: the DriftGate compares each new span with the
data the served model was trained on, and the schema is frozen by the first
push. Generated sequences (classification) and a copy of CO2 without its
schema; for each broken span nothing is pushed, the served version stays,
and the reason is printed and recorded; a natural next span passes."""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest
from conftest import LOOSE_BUDGETS
from repo_files import load_script

from noisy_rnn.pipeline.config import ModelConfig, PipelineConfig
from noisy_rnn.pipeline.ops import retrain, run_records, spans

REPO = pathlib.Path(__file__).resolve().parents[2]
NOISY_RNN = os.path.join(os.path.dirname(sys.executable), "noisy-rnn")
SHORT = dict(units=16, train_steps=60, eval_every=30, conv_filters=8,
             ema_decay=0.9)


broken = load_script("data/corruptions.py")
read_rows, write_rows = broken.read_rows, broken.write_rows
scaled, shifted = broken.scaled, broken.shifted
swapped, collapsed = broken.swapped, broken.collapsed


class History:
    """A spans folder and an output folder, retrained span by span."""

    def __init__(self, tmp, dataset, csv_name, **options):
        self.tmp, self.csv_name = tmp, csv_name
        self.config = PipelineConfig(
            dataset=dataset, output=str(tmp / "out"),
            spans_dir=str(tmp / "in"), model=ModelConfig(**SHORT),
            latency_budgets_ms=LOOSE_BUDGETS, **options)
        self.span = 0

    def served(self):
        folder = self.config.serving_dir
        return sorted(os.listdir(folder), key=int) if os.path.isdir(
            folder) else []

    def arrive(self, rows):
        """A new span with ``rows`` arrives and is retrained; a broken span
        is withdrawn afterwards (its number stays used)."""
        self.span += 1
        folder = self.tmp / "in" / f"span-{self.span}"
        write_rows(folder / self.csv_name, rows)
        return retrain.retrain(self.config, echo=lambda _: None)

    def withdraw(self):
        shutil.rmtree(self.tmp / "in" / f"span-{self.span}")


def assert_refused_for_drift(history, result, served, *features):
    assert result.ran and not result.pushed
    assert history.served() == served and result.served_version == served[-1]
    assert result.reason.startswith("not pushed: the pipeline stopped: "
                                    "DriftFound: ")
    for feature in features:
        assert f"feature '{feature}': " in result.reason
    assert "against the served model's training data (threshold" in \
        result.reason
    state = json.loads((pathlib.Path(history.config.output) /
                        retrain.STATE_FILE).read_text())
    assert state["outcome"] == result.reason and state["pushed"] is None


@pytest.fixture(scope="module")
def sines(tmp_path_factory):
    """Generated sequences: span 1 (first 90 sequences) pushed; the
    natural next export holds the first 150 (new sequence ids: SchemaGen
    gives up to 100 distinct ids a value domain, which the frozen schema
    must not keep)."""
    tmp = tmp_path_factory.mktemp("drift_sines")
    synthetic = load_script("data/synthetic.py")
    spec = synthetic.write_dataset(tmp / "spec", count=150)
    synthetic.write_spans(tmp / "exports", [90, 150])
    history = History(tmp, spec, "sines.csv")
    first = history.arrive(read_rows(tmp / "exports" / "span-1" /
                                     "sines.csv"))
    assert first.pushed, first.reason
    return history, read_rows(tmp / "exports" / "span-2" / "sines.csv")


def test_first_push_freezes_the_inferred_schema_and_skips_drift(sines):
    history, _ = sines
    assert os.path.isfile(history.config.frozen_schema_path)
    assert history.config.schema_file == history.config.frozen_schema_path
    frozen = pathlib.Path(history.config.frozen_schema_path).read_text()
    assert 'name: "kind"' in frozen and 'value: "slow"' in frozen
    assert 'value: "s0"' not in frozen  # no domain of sequence ids
    summary = retrain.runner.summarize_latest_run(history.config)
    assert summary.drift["compared"] is False
    assert "nothing served yet" in summary.drift["reason"]
    line = run_records.describe_drift(summary.drift)
    assert line.startswith("drift check: skipped: no served model's")
    assert line.count("skipped") == 1


@pytest.mark.parametrize("corrupt, features", [
    (lambda rows: scaled(rows, "a", 1000), ["a"]),
    (lambda rows: shifted(rows, "a", 3), ["a"]),
    (lambda rows: swapped(rows, "a", "b"), ["a", "b"]),
    (lambda rows: collapsed(rows, "kind"), ["kind"]),
], ids=["a x1000", "a +3 std", "a and b swapped", "one class"])
def test_broken_span_is_refused_and_the_served_model_stays(
        sines, corrupt, features):
    history, natural = sines
    served = history.served()
    result = history.arrive(corrupt(natural))
    history.withdraw()
    assert_refused_for_drift(history, result, served, *features)


def test_natural_next_span_is_pushed(sines):
    history, natural = sines
    served = history.served()
    result = history.arrive(natural)
    assert result.pushed, result.reason
    assert len(history.served()) == len(served) + 1
    drift = result.summary.drift
    assert drift["compared"] is True
    assert drift["drifts"] and not any(d["exceeded"] for d in drift["drifts"])
    assert {d["feature"] for d in drift["drifts"]} == {"a", "b", "kind"}


@pytest.fixture(scope="module")
def co2(tmp_path_factory):
    """CO2 without its curated schema: span 1 of 3 cumulative exports
    pushed; the natural next one is span 2."""
    tmp = tmp_path_factory.mktemp("drift_co2")
    shutil.copy(REPO / "schemas" / "co2" / "dataset.yaml", tmp / "spec.yaml")
    text = (tmp / "spec.yaml").read_text().replace(
        "csv: ../../data/co2/co2.csv", f"csv: {REPO}/data/co2/co2.csv")
    (tmp / "spec.yaml").write_text(text)
    spans.split_into_spans(str(REPO / "data" / "co2" / "co2.csv"), "week",
                           tmp / "exports", 3)
    history = History(tmp, str(tmp / "spec.yaml"), "co2.csv")
    assert history.config.spec.schema is None
    first = history.arrive(read_rows(tmp / "exports" / "span-1" /
                                     "co2.csv"))
    assert first.pushed, first.reason
    return history, read_rows(tmp / "exports" / "span-2" / "co2.csv")


@pytest.mark.parametrize("corrupt", [
    lambda rows: scaled(rows, "co2", 1000),
    lambda rows: shifted(rows, "co2", 3),
], ids=["x1000", "+3 std"])
def test_broken_co2_span_is_refused(co2, corrupt):
    history, natural = co2
    served = history.served()
    result = history.arrive(corrupt(natural))
    history.withdraw()
    assert_refused_for_drift(history, result, served, "co2")


def test_natural_next_co2_span_passes_the_drift_gate(co2):
    history, natural = co2
    result = history.arrive(natural)
    drift = result.summary.drift
    assert drift["compared"] is True
    assert not any(d["exceeded"] for d in drift["drifts"]), drift
    # From there the Evaluator decides, as for any span.
    gate = (result.summary.blessed is True and
            result.summary.serving_blessed is True)
    assert result.pushed == gate, result.reason


def test_cli_retrain_prints_the_drift_reason_and_exits_cleanly(sines):
    """`noisy-rnn retrain` as cron runs it, on one more broken span: the
    reason is printed, the served version stays, no traceback."""
    history, natural = sines
    served = history.served()
    history.span += 1
    write_rows(history.tmp / "in" / f"span-{history.span}" / "sines.csv",
               scaled(natural, "b", 1000))
    config = history.config
    run = subprocess.run(
        [NOISY_RNN, "retrain", "--dataset", config.spec.path, "--output",
         config.output, "--spans-dir", config.spans_dir,
         *[f"--{k.replace('_', '-')}={v}" for k, v in SHORT.items()]],
        capture_output=True, text=True, timeout=600, check=False)
    history.withdraw()
    assert run.returncode == 0, run.stderr[-2000:]
    assert (f"span {history.span}: not pushed: the pipeline stopped: "
            f"DriftFound: ") in run.stdout
    assert "feature 'b': Jensen-Shannon divergence" in run.stdout
    assert f"served version: {served[-1]}" in run.stdout
    assert "Traceback" not in run.stderr
    assert history.served() == served
