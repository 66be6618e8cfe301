"""CO2 one-step-ahead forecasting: classical baselines vs the pipeline.

Prints mean absolute errors (ppm) of persistence (last value),
seasonal-naive (52 weeks earlier) and a linear AR(52) least-squares model:

1. on the latest 20 % of weeks, gaps linearly interpolated (the reference
   setting: persistence 0.405, seasonal-naive 1.650, AR(52) 0.305), with
   two gauges of the noise floor: AR(104), and least squares from the 52
   weeks before and the 1, 2 or 4 after each target (not a forecast: even
   knowing the next weeks, a linear fit errs by this much: a rough floor
   for any forecaster, which knows less);
2. with ``--output RUN`` (a `noisy-rnn run` on ``schemas/co2``): on exactly
   the pipeline's eval windows (windows over gaps are skipped by
   SequenceExampleGen), AR(52) fitted on its train and validation windows,
   side by side
   with the pushed model's predictions on the same windows.

Usage:
    .venv/bin/python bench/co2_baselines.py [--output runs/co2]
"""

import argparse
import csv
import glob
import os

import numpy as np

LAGS = 52
EVAL_FRACTION = 0.2


def read_series(path="data/co2/co2.csv"):
    """Weekly values (NaN where missing), in week order."""
    with open(path, newline="") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: int(r["week"]))
    return np.array([float(r["co2"]) if r["co2"] else np.nan for r in rows])


def interpolate(values):
    missing = np.isnan(values)
    index = np.arange(len(values))
    filled = values.copy()
    filled[missing] = np.interp(index[missing], index[~missing],
                                values[~missing])
    return filled


def fit_ar(windows, targets):
    """Least-squares AR weights (intercept last) from ``[n, LAGS]`` windows
    (oldest first) to their next values."""
    design = np.hstack([windows, np.ones((len(windows), 1))])
    weights, *_ = np.linalg.lstsq(design, targets, rcond=None)
    return weights


def predict_ar(weights, windows):
    return np.hstack([windows, np.ones((len(windows), 1))]) @ weights


def baselines(train_windows, train_targets, windows, targets):
    """``{name: MAE}`` for persistence, seasonal-naive and AR(52) on
    ``windows`` (each the LAGS values before its target)."""
    weights = fit_ar(train_windows, train_targets)
    return {
        "persistence (last value)": np.mean(np.abs(windows[:, -1] - targets)),
        "seasonal-naive (52 weeks earlier)":
            np.mean(np.abs(windows[:, -LAGS] - targets)),
        "AR(52) least squares": np.mean(np.abs(
            predict_ar(weights, windows) - targets)),
    }


def lagged(series, positions, lags=LAGS):
    windows = np.stack([series[t - lags:t] for t in positions])
    return windows, series[positions]


def interpolated_reference(series):
    """Setting 1: latest 20 % of weeks as targets, gaps interpolated."""
    filled = interpolate(series)
    cutoff = int(round(len(filled) * (1 - EVAL_FRACTION)))
    train = lagged(filled, np.arange(LAGS, cutoff))
    test = lagged(filled, np.arange(cutoff, len(filled)))
    return baselines(*train, *test), len(test[1])


def noise_gauges(series, lags=(104,), futures=(1, 2, 4)):
    """Setting 1's split, two references for how low a one-step MAE can
    go: least-squares AR over longer windows (``lags`` weeks), and, not
    forecasters at all, least squares from the 52 weeks before *and* the
    ``k`` weeks after each target (``futures``): even knowing the next
    weeks, a linear fit errs by this much, a rough floor for a forecaster,
    which knows only the past (not a strict bound). ``{name: MAE}``."""
    filled = interpolate(series)
    cutoff = int(round(len(filled) * (1 - EVAL_FRACTION)))
    results = {}
    for lag in lags:
        weights = fit_ar(*lagged(filled, np.arange(lag, cutoff), lag))
        windows, targets = lagged(filled, np.arange(cutoff, len(filled)), lag)
        results[f"AR({lag}) least squares"] = np.mean(np.abs(
            predict_ar(weights, windows) - targets))
    for k in futures:
        train = np.arange(LAGS, cutoff - k)
        test = np.arange(cutoff, len(filled) - k)

        def around(positions):
            return np.stack([np.r_[filled[t - LAGS:t], filled[t + 1:t + 1 + k]]
                             for t in positions])
        weights = fit_ar(around(train), filled[train])
        results[f"52 before + {k} after (not a forecast)"] = np.mean(np.abs(
            predict_ar(weights, around(test)) - filled[test]))
    return results


def read_windows(split_dir, feature="co2", target="co2_target"):
    """``(windows [n, LAGS], targets [n])`` from a split's tf.Examples."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    records = [r.numpy() for r in tf.data.TFRecordDataset(
        glob.glob(os.path.join(split_dir, "*.gz")), compression_type="GZIP")]
    windows, targets = [], []
    for record in records:
        example = tf.train.Example.FromString(record)
        windows.append(list(example.features.feature[feature].float_list.value))
        targets.append(example.features.feature[target].float_list.value[0])
    return np.array(windows), np.array(targets), records


def latest_dir(path):
    ids = [int(name) for name in os.listdir(path) if name.isdigit()]
    return os.path.join(path, str(max(ids)))


def pipeline_comparison(output, model_name="co2"):
    """Setting 2: the run's own eval windows, baselines and pushed model."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    examples = latest_dir(os.path.join(output, "pipeline_root",
                                       "SequenceExampleGen", "examples"))
    # AR(52) selects nothing: it is fitted on every window before eval
    # (train and the validation slice).
    parts = [read_windows(os.path.join(examples, split))
             for split in ("Split-train", "Split-validation")
             if os.path.isdir(os.path.join(examples, split))]
    train = (np.concatenate([p[0] for p in parts]),
             np.concatenate([p[1] for p in parts]))
    test_windows, test_targets, records = read_windows(
        os.path.join(examples, "Split-eval"))
    results = baselines(train[0], train[1], test_windows, test_targets)
    serving = os.path.join(output, "serving", model_name)
    if os.path.isdir(serving):
        pushed = latest_dir(serving)
        signature = tf.saved_model.load(pushed).signatures["serving_default"]
        prediction = signature(examples=tf.constant(records))["prediction"]
        results[f"pipeline model ({os.path.basename(pushed)})"] = np.mean(
            np.abs(prediction.numpy() - test_targets))
    return results, len(test_targets)


def print_table(title, results, count):
    print(f"{title} ({count} targets)")
    for name, mae in results.items():
        print(f"  {name:<40} MAE {mae:.3f} ppm")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", default="data/co2/co2.csv")
    parser.add_argument("--output", default=None,
                        help="a pipeline output folder for data/co2")
    args = parser.parse_args()
    series = read_series(args.csv)
    results, count = interpolated_reference(series)
    print_table("latest 20% of weeks, gaps linearly interpolated",
                {**results, **noise_gauges(series)}, count)
    if args.output:
        print_table(f"the pipeline's eval windows ({args.output})",
                    *pipeline_comparison(args.output))


if __name__ == "__main__":
    main()
