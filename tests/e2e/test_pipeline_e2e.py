"""End to end: the real TFX pipeline on LocalDagRunner / Beam DirectRunner.

JapaneseVowels (sequences, curated schema), generated CSVs in both modes
(the "your own data" path, inferred schema), the TFX cache on a rerun, and a
data anomaly stopping the run before training.
"""

import csv
import glob
import math
import os
import re
import shutil

import numpy as np
import pytest
import tensorflow as tf
from browser import open_report
from clean_process import probe_saved_model
from conftest import LOOSE_BUDGETS, SHORT

from noisy_rnn.components.anomalies_gate import AnomaliesFound
from noisy_rnn.components.serving_validator import \
    executor as serving_validator
from noisy_rnn.pipeline.config import ModelConfig, PipelineConfig
from noisy_rnn.pipeline.ops import runner

COMPONENTS = ["AnomaliesGate", "DriftGate", "Evaluator", "ExampleValidator",
              "Pusher", "SequenceExampleGen", "ServingValidator",
              "StatisticsGen", "Trainer", "Transform"]


def eval_examples_file(output):
    """The gzipped TFRecord of the eval split SequenceExampleGen wrote."""
    [path] = glob.glob(os.path.join(output, "pipeline_root",
                                    "SequenceExampleGen", "examples", "*",
                                    "Split-eval", "*.gz"))
    return path


def assert_pushed_under_a_numeric_version(summary, config):
    assert summary.blessed is True
    assert os.path.dirname(summary.pushed_path) == config.serving_dir
    assert re.fullmatch(r"\d+", os.path.basename(summary.pushed_path))
    assert os.path.isfile(os.path.join(summary.pushed_path, "saved_model.pb"))


def test_japanese_vowels_runs_every_component_and_pushes(japanese_vowels):
    config, summary = japanese_vowels
    assert summary.executed() == sorted(COMPONENTS + ["ImportSchemaGen"])
    assert set(summary.states.values()) == {"complete"}
    assert summary.metrics["sparse_categorical_accuracy"] > 0.8
    assert_pushed_under_a_numeric_version(summary, config)


def test_pushed_model_serves_without_the_project_as_evaluated(
        japanese_vowels, tmp_path):
    config, summary = japanese_vowels
    examples = eval_examples_file(config.output)
    report, classes = probe_saved_model(summary.pushed_path, examples,
                                        tmp_path, key="classes")
    assert report["project_importable"] is False
    assert report["random_ops"] == []
    assert report["output_keys"] == ["class_ids", "classes", "probabilities"]
    truth = [tf.train.Example.FromString(r.numpy()).features.feature[
        "speaker"].bytes_list.value[0] for r in
        tf.data.TFRecordDataset([examples], compression_type="GZIP")]
    assert len(truth) == 370
    accuracy = np.mean(np.array(truth) == classes)
    assert accuracy == pytest.approx(
        summary.metrics["sparse_categorical_accuracy"], abs=1e-6)


@pytest.fixture
def clean_starts(monkeypatch):
    """The ServingValidator's clean processes started from here on: a list
    that grows as the real ones start."""
    started = []
    start = serving_validator._start_clean_process  # pylint: disable=protected-access

    def counted():
        started.append(start())
        return started[-1]
    monkeypatch.setattr(serving_validator, "_start_clean_process", counted)
    return started


def test_identical_rerun_is_served_from_the_cache(japanese_vowels,
                                                  clean_starts):
    config, first = japanese_vowels
    second = runner.run(config)
    assert second.executed() == []
    assert clean_starts == []  # nothing to validate: none started
    assert {second.states[c] for c in COMPONENTS} == {"cached"}
    assert second.pushed_path == first.pushed_path


def test_anomalies_stop_the_run_before_training(tmp_path, clean_starts):
    spec_dir = tmp_path / "schemas" / "japanese_vowels"
    shutil.copytree("schemas/japanese_vowels", spec_dir)
    (tmp_path / "data").mkdir()
    with open("data/japanese_vowels.csv") as f:
        rows = list(csv.reader(f))
    rows[5][2] = "40.0"  # c0 of one step, far outside the schema's domain
    with open(tmp_path / "data" / "japanese_vowels.csv", "w",
              newline="") as f:
        csv.writer(f).writerows(rows)
    config = PipelineConfig(dataset=str(spec_dir / "dataset.yaml"),
                            output=str(tmp_path / "run"),
                            model=ModelConfig(**SHORT))
    with pytest.raises(AnomaliesFound, match=r"train: feature 'c0': .*"
                                             r"[Oo]ut-of-range"):
        runner.run(config)
    assert clean_starts == []  # refused at the gate: none was needed
    summary = runner.summarize_latest_run(config)
    assert summary.states["AnomaliesGate"] == "failed"
    assert "Trainer" not in summary.states
    assert not os.path.exists(config.serving_dir)
    # The run report shows what exists and names what is missing.
    probe, errors = open_report(os.path.join(config.output, "report",
                                             "index.html"))
    assert errors == []
    assert "the run failed at AnomaliesGate" in probe["text"]
    assert "AnomaliesFound: " in probe["text"]
    assert "Not available: training (the Trainer did not finish)" in \
        probe["text"]
    assert probe["title"].startswith("japanese_vowels: run of ")
    assert re.search(r"components that did not run: .*Transform, Trainer, "
                     r"Evaluator, ServingValidator, Pusher", probe["text"])
    assert "Nothing pushed yet" in probe["text"]
    assert all(image["varied"] for image in probe["images"])


def write_sequences_csv(path, rng):
    """Two classes of noisy sines (slow, fast), 8-15 steps, 2 channels."""
    rows = [["utterance", "t", "left", "right", "kind", "part"]]
    for index in range(120):
        kind = ("slow", "fast")[index % 2]
        frequency = 0.3 if kind == "slow" else 1.1
        phase = rng.uniform(0, 2 * math.pi)
        for t in range(int(rng.integers(8, 16))):
            rows.append([f"u{index}", t,
                         math.sin(frequency * t + phase) + rng.normal(0, .1),
                         math.cos(frequency * t + phase) + rng.normal(0, .1),
                         kind, "eval" if index >= 90 else "train"])
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)


def write_series_csv(path, rng):
    """Two seasonal series with a trend, one row per day."""
    rows = [["station", "day", "level", "temperature"]]
    for station, offset in (("north", 0.0), ("south", 1.5)):
        for day in range(300):
            season = math.sin(2 * math.pi * day / 25)
            rows.append([station, day,
                         offset + season + day / 300 + rng.normal(0, .05),
                         season + rng.normal(0, .1)])
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)


@pytest.mark.parametrize("mode", ["sequences", "windows"])
def test_your_own_data_in_both_modes(tmp_path, mode):
    rng = np.random.default_rng(0)
    if mode == "sequences":
        write_sequences_csv(tmp_path / "mine.csv", rng)
        spec = ("name: mine\ncsv: mine.csv\nmode: sequences\n"
                "sequence_id: utterance\nstep: t\nfeatures: [left, right]\n"
                "label: kind\ntask: classification\nsplit: {column: part}\n")
    else:
        write_series_csv(tmp_path / "mine.csv", rng)
        spec = ("name: mine\ncsv: mine.csv\nmode: windows\n"
                "sequence_id: station\nstep: day\n"
                "features: [level, temperature]\nlabel: level\n"
                "task: regression\nsplit: {eval_fraction: 0.2}\n"
                "window: 12\nhorizon: 1\nstride: 1\n")
    (tmp_path / "dataset.yaml").write_text(spec)
    config = PipelineConfig(dataset=str(tmp_path / "dataset.yaml"),
                            output=str(tmp_path / "run"),
                            model=ModelConfig(**SHORT),
                            latency_budgets_ms=LOOSE_BUDGETS,
                            max_mae=1.0 if mode == "windows" else None)
    summary = runner.run(config)
    assert summary.executed() == sorted(COMPONENTS + ["SchemaGen"])
    assert_pushed_under_a_numeric_version(summary, config)
    report, outputs = probe_saved_model(
        summary.pushed_path, eval_examples_file(config.output), tmp_path)
    assert report["random_ops"] == []
    if mode == "sequences":
        assert summary.metrics["sparse_categorical_accuracy"] > 0.8
        assert report["output_keys"] == ["class_ids", "classes",
                                         "probabilities"]
    else:
        # level ranges over ~[-1, 3.5]; predicting the mean would give ~0.7.
        assert summary.metrics["mean_absolute_error"] < 0.5
        # Forecasting its own channel: the least-squares AR beside it, and
        # the Evaluator's ratio to it.
        assert report["output_keys"] == ["least_squares_ar", "prediction"]
        assert summary.metrics["mae_vs_ar"] == pytest.approx(
            summary.metrics["mean_absolute_error"] /
            summary.metrics["ar_mae"], rel=1e-5)
        assert outputs.shape == (2 * round(0.2 * 300),)
