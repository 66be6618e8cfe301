"""A generated classification dataset for tests and benchmarks: noisy sine
sequences of three classes (``slow``, ``medium``, ``fast``), two channels,
10-16 steps each (or as many as asked), written as a long CSV with a spec and no curated schema.

Each sequence occupies its own range of ``t`` (sequence k starts at step
100 k), so sequences are ordered in time; `write_spans` writes cumulative
exports of the first sequences, as data arriving over time would be.
"""

import csv
import math
import os

import numpy as np

CLASSES = {"slow": 0.3, "medium": 0.8, "fast": 1.5}   # angular frequency
HEADER = ["sequence", "t", "a", "b", "kind"]
SPEC = """name: sines
csv: sines.csv
mode: sequences
sequence_id: sequence
step: t
features: [a, b]
label: kind
task: classification
split: {eval_fraction: 0.2}
"""


def sequences(count, seed=0, steps=(10, 17)):
    """``count`` sequences as lists of CSV rows (without the header), each
    of ``steps[0]`` to ``steps[1] - 1`` steps."""
    rng = np.random.default_rng(seed)
    spacing = max(100, steps[1])  # sequence k starts at step spacing * k
    names = list(CLASSES)
    out = []
    for index in range(count):
        kind = names[index % len(names)]
        phase = rng.uniform(0, 2 * math.pi)
        rows = []
        for offset in range(int(rng.integers(*steps))):
            angle = CLASSES[kind] * offset + phase
            rows.append([f"s{index}", spacing * index + offset,
                         round(math.sin(angle) + rng.normal(0, .1), 5),
                         round(0.5 * math.cos(angle) + rng.normal(0, .1), 5),
                         kind])
        out.append(rows)
    return out


def write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        writer.writerows(rows)


def write_dataset(folder, count=240, seed=0, steps=(10, 17)):
    """``folder/dataset.yaml`` (no schema) and ``folder/sines.csv`` (see
    `sequences`); returns the spec's path."""
    os.makedirs(folder, exist_ok=True)
    write_csv(os.path.join(folder, "sines.csv"),
              [row for sequence in sequences(count, seed, steps)
               for row in sequence])
    with open(os.path.join(folder, "dataset.yaml"), "w",
              encoding="utf-8") as f:
        f.write(SPEC)
    return os.path.join(folder, "dataset.yaml")


def write_spans(dest, counts, seed=0):
    """``dest/span-<N>/sines.csv`` for N = 1.. : the first ``counts[N-1]``
    sequences of one generated history (cumulative exports)."""
    history = sequences(max(counts), seed)
    for number, count in enumerate(counts, start=1):
        folder = os.path.join(dest, f"span-{number}")
        os.makedirs(folder, exist_ok=True)
        write_csv(os.path.join(folder, "sines.csv"),
                  [row for sequence in history[:count] for row in sequence])
