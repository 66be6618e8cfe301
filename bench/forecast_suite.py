"""Public forecasting series: the default pipeline against a least-squares
linear AR, persistence and seasonal-naive on the same eval windows.

The series come from the `sktime` 1.2.0 wheel on PyPI (the same wheel, and
sha256 check, as ``bench/uea_suite.py``; it bundles them as CSVs under
``sktime/datasets/data/``), converted here into long CSVs and window specs
under ``--work`` (one series each, the latest 20 % of windows as eval, every
other option the pipeline's default). For each series and seed it prints
the MAE on the eval windows of:

- the pipeline's model (the Trainer's export, whether pushed or not);
- a linear AR on the same window (every channel's values and an intercept),
  least squares on the train and validation windows (the earlier ones);
- persistence (the target channel's last value) and, with a season,
  seasonal-naive (its value one season before the target).

Usage:
    .venv/bin/python bench/forecast_suite.py --work /tmp/uea [--series Lynx ...]
        [--seeds 0 1 2] [--model-option NAME=VALUE ...]
"""

import argparse
import csv
import glob
import os
import statistics
import sys
import time
import zipfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from uea_suite import (ARCHIVES, fetch_archive,  # noqa: E402  pylint: disable=wrong-import-position
                       parse_model_options)

# The sktime wheel of uea_suite's archives: it bundles the series' CSVs.
WHEEL = next(wheel for wheel, requirement, *_ in ARCHIVES
             if requirement.startswith("sktime=="))

# name: (CSV in the wheel, time column, {column: feature}, label feature,
#        window, season or None, description)
SERIES = {
    "Airline": ("Airline", "Date", {"Passengers": "passengers"},
                "passengers", 24, 12, "monthly airline passengers "
                "1949-1960 (Box & Jenkins)"),
    "Lynx": ("Lynx", "", {"0": "lynx"}, "lynx", 22, None,
             "yearly Canadian lynx trappings 1821-1934"),
    "ShampooSales": ("ShampooSales", "Time", {"Sales": "sales"}, "sales", 6,
                     None, "monthly shampoo sales over three years"),
    "Uschange": ("Uschange", "Quarter",
                 {"Consumption": "consumption", "Income": "income",
                  "Production": "production", "Savings": "savings",
                  "Unemployment": "unemployment"}, "consumption", 8, None,
                 "quarterly US consumption with four indicators, % changes "
                 "1970-2016 (Hyndman & Athanasopoulos)"),
}

SPEC = """# {name}: {description}; converted by bench/forecast_suite.py
name: {spec_name}
csv: {spec_name}.csv
mode: windows
sequence_id: series
step: step
features: [{features}]
label: {label}
task: regression
split: {{eval_fraction: 0.2}}
window: {window}
horizon: 1
stride: 1
{season}"""


def convert(work, name):
    """``work/forecast/<name>/dataset.yaml`` and its long CSV from the
    wheel's CSV; returns the spec's path."""
    source, time_column, columns, label, window, season, description = \
        SERIES[name]
    dest = os.path.join(work, "forecast", name)
    os.makedirs(dest, exist_ok=True)
    with zipfile.ZipFile(os.path.join(work, WHEEL)) as wheel:
        text = wheel.read(f"sktime/datasets/data/{source}/{source}.csv")
    rows = list(csv.DictReader(text.decode("utf-8").splitlines()))
    spec_name = name.lower()
    with open(os.path.join(dest, f"{spec_name}.csv"), "w", newline="",
              encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["series", "step", "time"] + list(columns.values()))
        for step, row in enumerate(rows):
            writer.writerow([spec_name, step, row[time_column]] +
                            [row[c] for c in columns])
    path = os.path.join(dest, "dataset.yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(SPEC.format(
            name=name, description=description, spec_name=spec_name,
            features=", ".join(columns.values()), label=label, window=window,
            season=f"season: {season}\n" if season else ""))
    return path


def read_windows(split_dir, features, label):
    """``(inputs [n, window * channels], last [n, window] of the label's
    channel, targets [n], records)`` of a split's tf.Examples."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    records = [r.numpy() for r in tf.data.TFRecordDataset(
        sorted(glob.glob(os.path.join(split_dir, "*.gz"))),
        compression_type="GZIP")]
    inputs, own, targets = [], [], []
    for record in records:
        feature = tf.train.Example.FromString(record).features.feature
        channels = [list(feature[f].float_list.value) for f in features]
        inputs.append(np.concatenate(channels))
        own.append(channels[features.index(label)])
        targets.append(feature[f"{label}_target"].float_list.value[0])
    return np.array(inputs), np.array(own), np.array(targets), records


def latest(path):
    return os.path.join(path, max(os.listdir(path), key=int))


def eval_comparison(spec, output):
    """``{name: MAE}`` on the run's eval windows: the Trainer's model, the
    least-squares AR (fitted on train and validation), persistence and
    seasonal-naive (with a season)."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    root = os.path.join(output, "pipeline_root")
    examples = latest(os.path.join(root, "SequenceExampleGen", "examples"))
    fit = [read_windows(os.path.join(examples, f"Split-{split}"),
                        spec.features, spec.label)
           for split in ("train", "validation")
           if os.path.isdir(os.path.join(examples, f"Split-{split}"))]
    inputs = np.concatenate([f[0] for f in fit])
    targets = np.concatenate([f[2] for f in fit])
    test_inputs, test_own, test_targets, records = read_windows(
        os.path.join(examples, "Split-eval"), spec.features, spec.label)
    design = np.hstack([inputs, np.ones((len(inputs), 1))])
    weights, *_ = np.linalg.lstsq(design, targets, rcond=None)
    ar = np.hstack([test_inputs, np.ones((len(test_inputs), 1))]) @ weights
    model_dir = os.path.join(latest(os.path.join(root, "Trainer", "model")),
                             "Format-Serving")
    signature = tf.saved_model.load(model_dir).signatures["serving_default"]
    predicted = signature(examples=tf.constant(records))["prediction"]
    results = {
        "model": float(np.mean(np.abs(predicted.numpy() - test_targets))),
        "AR": float(np.mean(np.abs(ar - test_targets))),
        "persistence": float(np.mean(np.abs(test_own[:, -1] -
                                            test_targets))),
    }
    if spec.season:
        results["seasonal-naive"] = float(np.mean(np.abs(
            test_own[:, -spec.season] - test_targets)))
    return results, len(test_targets)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True)
    parser.add_argument("--series", nargs="+", default=list(SERIES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--model-option", action="append", default=[],
                        metavar="NAME=VALUE")
    args = parser.parse_args()
    from noisy_rnn.pipeline.config import (  # pylint: disable=import-outside-toplevel
        ModelConfig, PipelineConfig)
    from noisy_rnn.pipeline.ops import runner  # pylint: disable=import-outside-toplevel
    options = parse_model_options(args.model_option)
    tag = "-".join(f"{k}={v}" for k, v in options.items()) or "default"
    os.makedirs(args.work, exist_ok=True)
    fetch_archive(args.work)
    for name in args.series:
        spec_path = convert(args.work, name)
        runs = []
        for seed in args.seeds:
            config = PipelineConfig(
                dataset=spec_path,
                output=os.path.join(args.work, "forecast-runs", name, tag,
                                    f"seed{seed}"),
                model=ModelConfig(seed=seed, **options))
            start = time.perf_counter()
            summary = runner.run(config, echo=lambda _: None)
            seconds = time.perf_counter() - start
            results, count = eval_comparison(config.spec, config.output)
            runs.append(results)
            print(f"{name} seed {seed}: " + ", ".join(
                f"{k} {v:.4g}" for k, v in results.items()) +
                f"; model/AR {results['model'] / results['AR']:.3f}; "
                f"{count} eval windows; pushed "
                f"{bool(summary.pushed_path)}; {seconds:.0f} s", flush=True)
        means = {k: statistics.mean(r[k] for r in runs) for k in runs[0]}
        print(f"{name} mean over seeds {args.seeds}: " + ", ".join(
            f"{k} {v:.4g}" for k, v in means.items()) +
            f"; model/AR {means['model'] / means['AR']:.3f}", flush=True)


if __name__ == "__main__":
    main()
