"""A rolling window of spans through the real pipeline: four disjoint CO2
deliveries, ``--spans-window 2``; the Trainer's examples come from spans 3
and 4 only, windows crossing the boundary between them; compiled for
Kubeflow, the window travels with SequenceExampleGen."""

import csv
import glob
import json
import os
import pathlib
import subprocess
import sys

import pytest
import tensorflow as tf
from conftest import LOOSE_BUDGETS

from noisy_rnn.pipeline.config import ModelConfig, PipelineConfig
from noisy_rnn.pipeline.ops import retrain, run_records, spans
from noisy_rnn.schemas import contracts

REPO = pathlib.Path(__file__).resolve().parents[2]
NOISY_RNN = pathlib.Path(sys.executable).with_name("noisy-rnn")
SHORT = dict(units=32, train_steps=60, eval_every=30)


def span_weeks(folder, number):
    with open(folder / f"span-{number}" / "co2.csv", newline="") as f:
        weeks = [int(row["week"]) for row in csv.DictReader(f)]
    return min(weeks), max(weeks)


def target_steps(examples_uri):
    """Every example's target step, all splits."""
    files = glob.glob(os.path.join(examples_uri, "Split-*", "*"))
    steps = []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        example = tf.train.Example.FromString(record.numpy())
        steps.append(example.features.feature[
            contracts.TARGET_STEP_FEATURE].int64_list.value[0])
    return steps


@pytest.fixture(scope="module")
def windowed(tmp_path_factory):
    """``(tmp, config, result, echoed lines)`` of a retrain on the latest
    2 of 4 disjoint spans."""
    tmp = tmp_path_factory.mktemp("spans_window")
    spans.split_into_spans(str(REPO / "data" / "co2" / "co2.csv"), "week",
                           tmp / "in", 4, cumulative=False)
    config = PipelineConfig(dataset="co2", output=str(tmp / "out"),
                            spans_dir=str(tmp / "in"), spans_window=2,
                            model=ModelConfig(**SHORT),
                            latency_budgets_ms=LOOSE_BUDGETS)
    lines = []
    result = retrain.retrain(config, echo=lines.append)
    return tmp, config, result, lines


def test_the_examples_come_from_the_last_two_spans_only(windowed):
    tmp, _, result, lines = windowed
    summary = result.summary
    assert summary.span == 4 and summary.spans == [3, 4]
    assert f"data: spans 3-4 of {tmp / 'in'}" in lines
    printed = []
    run_records.print_summary(summary, echo=printed.append)
    assert any(line.startswith("examples of spans 3-4: train ")
               for line in printed), printed
    first_of_3, last_of_3 = span_weeks(tmp / "in", 3)
    first_of_4, last_of_4 = span_weeks(tmp / "in", 4)
    with run_records.open_store(windowed[1]) as m:
        artifact = max(m.store.get_artifacts_by_type("Examples"),
                       key=lambda a: a.id)
    assert artifact.custom_properties[contracts.SPANS].string_value == "3,4"
    steps = target_steps(artifact.uri)
    assert min(steps) >= first_of_3 and max(steps) <= last_of_4
    # Span 3 is read (targets in it), spans 1-2 are not (nothing before
    # it), and a window may end in span 4 while starting in span 3.
    assert any(step <= last_of_3 for step in steps)
    assert any(first_of_4 <= step < first_of_4 + 52 for step in steps)
    assert sum(summary.example_counts[f"examples_{split}"] for split in
               ("train", "validation", "eval")) == len(steps)


def test_the_run_report_names_the_spans(windowed):
    _, _, result, _ = windowed
    report = pathlib.Path(result.summary.report_path).read_text()
    assert "Data: spans 3-4" in report


def test_kubeflow_compile_carries_the_window(tmp_path):
    run = subprocess.run(
        [str(NOISY_RNN), "compile-kubeflow", "--dataset", "co2", "--output",
         "gs://bucket/co2", "--spans-dir", "gs://bucket/incoming/co2",
         "--spans-window", "3", "--image", "example.com/noisy-rnn:1",
         "--dest", str(tmp_path)], capture_output=True, text=True,
        check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    job = json.loads((tmp_path / "co2_pipeline.json").read_text())
    example_gen = json.dumps(job["pipelineSpec"]["root"]["dag"]["tasks"][
        "SequenceExampleGen"])
    assert '\\"spans_window\\": {' in example_gen
    assert '\\"size\\": 3.0' in example_gen
    assert "span-{SPAN}/*.csv" in example_gen
