"""The Evaluator knows the naive forecasts: persistence and seasonal-naive
MAE on the same eval windows as the model, and a forecast that does not
beat them is refused (real CO2 data, real pipeline)."""

import glob
import os

import numpy as np
import pytest
import tensorflow as tf
import yaml
from conftest import LOOSE_BUDGETS, SHORT

from noisy_rnn.pipeline.config import ModelConfig, PipelineConfig
from noisy_rnn.pipeline.ops import runner
from noisy_rnn.schemas.dataset_spec import load_spec


def eval_windows(output):
    """``(last value of each eval window, target)`` from the eval split
    SequenceExampleGen wrote, and the value one season (52) back."""
    files = glob.glob(os.path.join(output, "pipeline_root",
                                   "SequenceExampleGen", "examples", "*",
                                   "Split-eval", "*.gz"))
    last, season_back, targets = [], [], []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        features = tf.train.Example.FromString(
            record.numpy()).features.feature
        window = features["co2"].float_list.value
        last.append(window[-1])
        season_back.append(window[0])  # window 52, horizon 1, season 52
        targets.append(features["co2_target"].float_list.value[0])
    return np.array(last), np.array(season_back), np.array(targets)


@pytest.fixture(name="absolute_co2")
def absolute_co2_spec(tmp_path):
    """The bundled CO2 spec, forecasting absolute values (what a new user's
    spec without ``forecast_change`` used to get): on a trending series the
    eval part lies above the training range, so the model does worse than
    repeating the last week."""
    bundled = load_spec("co2")
    with open(bundled.path, encoding="utf-8") as f:
        values = yaml.safe_load(f)
    values.update(csv=bundled.csv, forecast_change=False)
    path = tmp_path / "dataset.yaml"
    path.write_text(yaml.safe_dump(values))
    return str(path)


def test_a_forecast_worse_than_persistence_is_refused(absolute_co2,
                                                      tmp_path):
    # Without the linear AR path, which extrapolates a trend (and so beats
    # persistence even here): the recurrent layers alone.
    config = PipelineConfig(dataset=absolute_co2, output=str(tmp_path / "run"),
                            model=ModelConfig(**SHORT, autoregressive=False),
                            latency_budgets_ms=LOOSE_BUDGETS)
    summary = runner.run(config)
    metrics = summary.metrics

    # The naive forecasts, recomputed here from the eval windows.
    last, season_back, targets = eval_windows(config.output)
    assert len(targets) == summary.example_counts["examples_eval"]
    assert metrics["persistence_mae"] == pytest.approx(
        np.mean(np.abs(last - targets)), rel=1e-5)
    assert metrics["seasonal_naive_mae"] == pytest.approx(
        np.mean(np.abs(season_back - targets)), rel=1e-5)
    assert metrics["mae_vs_persistence"] == pytest.approx(
        metrics["mean_absolute_error"] / metrics["persistence_mae"], rel=1e-5)

    assert metrics["mae_vs_persistence"] > 1
    assert summary.blessed is False and summary.pushed_path is None
    [reason] = [r for r in summary.refusals if "persistence" in r]
    assert (f"MAE {metrics['mean_absolute_error']:.4g} is not below "
            f"persistence's {metrics['persistence_mae']:.4g} "
            f"(repeat the last value)") in reason

    # Turning the check off blesses the same model: only the Evaluator and
    # what follows it run again.
    config.beat_naive = False
    relaxed = runner.run(config)
    assert "Trainer" not in relaxed.executed()
    assert "Evaluator" in relaxed.executed()
    assert relaxed.metrics["mean_absolute_error"] == pytest.approx(
        metrics["mean_absolute_error"])
    assert relaxed.blessed is True and relaxed.pushed_path
