"""Data shapes the defaults were not shaped on, through the real pipeline
on JapaneseVowels' CSV: one training sequence per class (no validation
slice to carve), and a target per sequence (extrinsic regression). In a
module of their own: they need no shared run, so pytest-xdist may place
them beside the modules that share one."""

import collections
import csv
import json
import os
import pathlib
import re
import subprocess
import sys

from conftest import LOOSE_BUDGET_FLAGS, LOOSE_BUDGETS, SHORT
from test_long_sequences import data_choices
from test_report import check_report_in_browser, cli_flags

from noisy_rnn.pipeline.config import ModelConfig, PipelineConfig
from noisy_rnn.pipeline.ops import runner
from noisy_rnn.schemas import contracts

REPO = pathlib.Path(__file__).resolve().parents[2]
NOISY_RNN = pathlib.Path(sys.executable).with_name("noisy-rnn")


def test_one_training_sequence_per_class_trains_without_a_slice(tmp_path):
    """One training sequence per speaker (the archive's Fungi and PigCVP
    kind): no class can spare one for the validation slice, so it is
    empty. The run goes on and says so: early stopping off (every round
    run, scored on the training data), the MiniRocket path fitted on the
    9 sequences once (not twice), and a model that serves noise-free."""
    with open(os.path.join(REPO, "data", "japanese_vowels.csv"),
              encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    kept, speakers = set(), set()
    for row in body:  # the first training sequence of each speaker
        if row[-1] == "train" and row[-2] not in speakers:
            speakers.add(row[-2])
            kept.add(row[0])
    body = [r for r in body if r[0] in kept or
            (r[-1] == "eval" and int(r[0].split("-")[-1]) % 8 == 0)]
    folder = tmp_path / "one_each"
    folder.mkdir()
    with open(folder / "data.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, *body])
    spec_text = (REPO / "schemas" / "japanese_vowels" /
                 "dataset.yaml").read_text(encoding="utf-8")
    (folder / "dataset.yaml").write_text(
        re.sub(r"(?m)^csv: .*$", "csv: data.csv", spec_text),
        encoding="utf-8")
    config = PipelineConfig(dataset=str(folder / "dataset.yaml"),
                            output=str(tmp_path / "run"),
                            model=ModelConfig(**SHORT), min_accuracy=0.0,
                            latency_budgets_ms=LOOSE_BUDGETS)
    summary = runner.run(config)
    assert summary.example_counts["examples_train"] == 9
    assert summary.example_counts["examples_validation"] == 0
    choice = data_choices(config)["early_stopping_patience"]
    assert choice["value"] == 0
    assert choice["reason"].startswith(
        "the validation slice is empty: 9 training sequences leave none to "
        "spare at --validation-fraction 0.15")
    assert "over 9 training sequences" in \
        data_choices(config)["rocket_features"]["reason"]
    root = os.path.join(config.pipeline_root, "Trainer", "model_run")
    with open(os.path.join(root, max(os.listdir(root), key=int),
                           contracts.HISTORY_FILE), encoding="utf-8") as f:
        history = json.load(f)
    assert history["step"][-1] == SHORT["train_steps"]  # never stopped
    assert summary.serving_blessed is True
    assert summary.pushed_path


def test_sequence_regression_report_shows_one_predicted_vs_actual_plot(
        tmp_path):
    """Regression in sequences mode (one value per sequence: each
    JapaneseVowels utterance's length in steps, from its coefficients):
    through the console script, the linear path chosen between the two
    kinds, and one predicted-vs-actual plot for all eval sequences, not a
    forecast plot per sequence."""
    with open(REPO / "data" / "japanese_vowels.csv", newline="",
              encoding="utf-8") as f:
        rows = list(csv.reader(f))
    lengths = collections.Counter(row[0] for row in rows[1:])
    with open(tmp_path / "lengths.csv", "w", newline="",
              encoding="utf-8") as f:
        csv.writer(f).writerows([rows[0][:-2] + ["steps", "split"]] + [
            row[:-2] + [lengths[row[0]], row[-1]] for row in rows[1:]])
    (tmp_path / "dataset.yaml").write_text(
        "name: lengths\ncsv: lengths.csv\nmode: sequences\n"
        "sequence_id: sequence_id\nstep: step\nfeatures: [" +
        ", ".join(f"c{i}" for i in range(12)) + "]\nlabel: steps\n"
        "task: regression\nsplit: {column: split}\n")
    run = subprocess.run(
        [str(NOISY_RNN), "run", "--dataset", str(tmp_path / "dataset.yaml"),
         "--output", str(tmp_path / "out"), *cli_flags(SHORT),
         *LOOSE_BUDGET_FLAGS], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    # A target per sequence: the MiniRocket ridge regressor and the ridge AR
    # compared, the choice printed.
    assert re.search(r"chosen from the data: --(rocket-features|"
                     r"autoregressive) .*; kept over the (ridge AR|MiniRocket "
                     r"ridge) by leave-one-out squared error", run.stdout)
    probe = check_report_in_browser(
        tmp_path / "out", "lengths", {"predicted vs actual"})
    assert not any(image["alt"].startswith("forecast")
                   for image in probe["images"])
    assert re.search(r"model MAE [\d.]+ over 370 sequences", probe["text"])
