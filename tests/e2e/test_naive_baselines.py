"""The Evaluator knows the reference forecasts: persistence, seasonal-naive
and least-squares AR MAE on the same eval windows as the model, and a
forecast that does not beat the naive ones is refused (real CO2 data, real
pipeline)."""

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


def split_windows(output, split):
    """``(windows [n, 52], targets [n])`` of a split SequenceExampleGen
    wrote."""
    files = glob.glob(os.path.join(output, "pipeline_root",
                                   "SequenceExampleGen", "examples", "*",
                                   f"Split-{split}", "*.gz"))
    windows, targets = [], []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        features = tf.train.Example.FromString(
            record.numpy()).features.feature
        windows.append(list(features["co2"].float_list.value))
        targets.append(features["co2_target"].float_list.value[0])
    return np.array(windows, np.float64), np.array(targets)


def least_squares_ar(output, windows):
    """AR(52) with an intercept, ordinary least squares on the raw train
    and validation windows, forecasting ``windows``."""
    fit = [split_windows(output, split) for split in ("train", "validation")]
    inputs = np.concatenate([f[0] for f in fit])
    design = np.hstack([inputs, np.ones((len(inputs), 1))])
    weights, *_ = np.linalg.lstsq(
        design, np.concatenate([f[1] for f in fit]), rcond=None)
    return np.hstack([windows, np.ones((len(windows), 1))]) @ weights


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

    # The naive forecasts, recomputed here from the eval windows (window
    # 52, horizon 1, season 52: one season back is the first step).
    windows, targets = split_windows(config.output, "eval")
    last, season_back = windows[:, -1], windows[:, 0]
    assert len(targets) == summary.example_counts["examples_eval"]
    assert metrics["persistence_mae"] == pytest.approx(
        np.mean(np.abs(last - targets)), rel=1e-5)
    assert metrics["seasonal_naive_mae"] == pytest.approx(
        np.mean(np.abs(season_back - targets)), rel=1e-5)
    assert metrics["mae_vs_persistence"] == pytest.approx(
        metrics["mean_absolute_error"] / metrics["persistence_mae"], rel=1e-5)
    # The AR the Trainer fitted on scaled windows is the raw series' AR.
    ar_mae = np.mean(np.abs(least_squares_ar(config.output, windows) -
                            targets))
    assert metrics["ar_mae"] == pytest.approx(ar_mae, rel=1e-3)
    assert metrics["mae_vs_ar"] == pytest.approx(
        metrics["mean_absolute_error"] / metrics["ar_mae"], rel=1e-5)
    assert metrics["ar_mae"] < 0.9 * metrics["persistence_mae"]

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
