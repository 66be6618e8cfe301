"""Where might noise on the carried state help? JapaneseVowels made harder
in the two ways regularisers are said to pay: a small training set, and
noisy inputs. Each variant is tuned with noise allowed and without (as
`tuning_bench.py` does), by default on the model without its fixed linear
path (the recurrent layers then make the predictions).

Variants, written under ``--work`` from the bundled CSV (deterministic):

* ``small``: the first ``--per-class`` training sequences of each speaker
  (all test sequences kept);
* ``noisy``: every feature value plus Gaussian noise of ``--input-noise``
  times that feature's standard deviation (train and test alike).

Usage:
    .venv/bin/python bench/noise_where.py --work /tmp/noise_where
        [--variants small noisy] [--seeds 0] [--kinds no-path]
"""

import argparse
import csv
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from tuning_bench import KINDS, one, result_line  # noqa: E402  pylint: disable=wrong-import-position

SOURCE = os.path.join(HERE, "..", "data", "japanese_vowels.csv")
FEATURES = [f"c{i}" for i in range(12)]
SPEC = """name: jv_{name}
csv: data.csv
mode: sequences
sequence_id: sequence_id
step: step
features: [{features}]
label: speaker
task: classification
split: {{column: split}}
"""


def read_rows():
    with open(SOURCE, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def small(rows, per_class):
    """The first ``per_class`` training sequences of each speaker."""
    kept, seen = set(), {}
    for row in rows:
        if row["split"] != "train" or row["sequence_id"] in kept:
            continue
        if seen.get(row["speaker"], 0) < per_class:
            seen[row["speaker"]] = seen.get(row["speaker"], 0) + 1
            kept.add(row["sequence_id"])
    return [r for r in rows if r["split"] != "train" or
            r["sequence_id"] in kept]


def noisy(rows, scale, seed=0):
    """Every feature plus N(0, (scale * its sd)^2)."""
    rng = np.random.default_rng(seed)
    sds = {f: np.std([float(r[f]) for r in rows]) for f in FEATURES}
    out = []
    for row in rows:
        row = dict(row)
        for feature in FEATURES:
            row[feature] = f"{float(row[feature]) + rng.normal(0, scale * sds[feature]):.6f}"
        out.append(row)
    return out


def write_variant(work, name, rows):
    folder = os.path.join(work, "specs", name)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "data.csv"), "w", newline="",
              encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    path = os.path.join(folder, "dataset.yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(SPEC.format(name=name, features=", ".join(FEATURES)))
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True)
    parser.add_argument("--variants", nargs="+", default=["small", "noisy"],
                        choices=("small", "noisy"))
    parser.add_argument("--per-class", type=int, default=5)
    parser.add_argument("--input-noise", type=float, default=0.5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--kinds", nargs="+", choices=KINDS,
                        default=["no-path"])
    args = parser.parse_args()
    rows = read_rows()
    for variant in args.variants:
        spec = write_variant(args.work, variant, small(rows, args.per_class)
                             if variant == "small" else
                             noisy(rows, args.input_noise))
        for kind in args.kinds:
            for seed in args.seeds:
                with_noise, without, tuning, chosen_noisy = one(
                    spec, os.path.join(args.work, "runs", variant, kind,
                                       f"seed{seed}"), seed, kind)
                print(result_line(f"jv {variant} {kind} seed {seed}",
                                  with_noise, without, tuning, chosen_noisy),
                      flush=True)


if __name__ == "__main__":
    main()
