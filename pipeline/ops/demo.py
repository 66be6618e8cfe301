"""Demo: stock GRU vs noisy-state GRUs on JapaneseVowels, several seeds.

Plain Keras on the embedded long CSV (the TFX pipeline is the product; this is
the quick look at what the layers do for accuracy). Channels are z-scored
with train-split statistics, sequences zero-padded and masked.
"""

import collections
import csv
import os
import statistics
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np  # noqa: E402
import tf_keras  # noqa: E402

from noisy_rnn import layers  # noqa: E402

UNITS = 64
VARIANTS = {
    "stock GRU": lambda: tf_keras.layers.GRU(UNITS),
    "TrainableInitialStateGRU": lambda: layers.TrainableInitialStateGRU(UNITS),
    "NoisyGRU(noise_std_init=0.3)":
        lambda: layers.NoisyGRU(UNITS, noise_std_init=0.3),
    "TrainableInitialStateAndConstantNoiseGRU(noise_std=0.3)":
        lambda: layers.TrainableInitialStateAndConstantNoiseGRU(
            UNITS, noise_std=0.3),
}


def load_japanese_vowels(csv_path):
    """Reads the long CSV into padded arrays per split.

    Returns ``{split: (x [n, max_len, 12] float32, y [n] int)}`` with classes
    mapped to 0..8 in sorted order, and x z-scored per channel with the train
    split's statistics (padding stays exactly 0, which the model masks).
    """
    rows_by_sequence = collections.OrderedDict()
    with open(csv_path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        channels = [c for c in reader.fieldnames if c.startswith("c")]
        for row in reader:
            rows_by_sequence.setdefault(row["sequence_id"], []).append(row)
    classes = sorted({rows[0]["speaker"] for rows in rows_by_sequence.values()})
    by_split = collections.defaultdict(list)
    for rows in rows_by_sequence.values():
        rows.sort(key=lambda r: int(r["step"]))
        values = np.array([[float(r[c]) for c in channels] for r in rows],
                          np.float32)
        by_split[rows[0]["split"]].append(
            (values, classes.index(rows[0]["speaker"])))
    train_steps = np.concatenate([v for v, _ in by_split["train"]])
    mean, std = train_steps.mean(0), train_steps.std(0)
    max_len = max(len(v) for items in by_split.values() for v, _ in items)
    arrays = {}
    for split, items in by_split.items():
        x = np.zeros((len(items), max_len, len(channels)), np.float32)
        for i, (values, _) in enumerate(items):
            x[i, :len(values)] = (values - mean) / std
        arrays[split] = (x, np.array([label for _, label in items]))
    return arrays


def train_and_evaluate(make_layer, data, seed, epochs):
    """Trains one model; returns (eval accuracy, seconds)."""
    tf_keras.utils.set_random_seed(seed)
    (x_train, y_train), (x_eval, y_eval) = data["train"], data["eval"]
    inputs = tf_keras.Input((None, x_train.shape[-1]))
    hidden = make_layer()(tf_keras.layers.Masking(0.0)(inputs))
    outputs = tf_keras.layers.Dense(int(y_train.max()) + 1)(hidden)
    model = tf_keras.Model(inputs, outputs)
    model.compile(
        tf_keras.optimizers.Adam(3e-3),
        tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=32, epochs=epochs, verbose=0)
    seconds = time.perf_counter() - start
    _, accuracy = model.evaluate(x_eval, y_eval, verbose=0)
    return accuracy, seconds


def main(csv_path, seeds=(0, 1, 2), epochs=60, variants=None):
    data = load_japanese_vowels(csv_path)
    names = variants or list(VARIANTS)
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        raise SystemExit(f"unknown --variants {unknown}; choose from "
                         f"{list(VARIANTS)}")
    print(f"JapaneseVowels: {len(data['train'][1])} train / "
          f"{len(data['eval'][1])} test sequences, GRU {UNITS} units, "
          f"{epochs} epochs, Adam 3e-3, seeds {list(seeds)}")
    print(f"{'model':<58} {'test accuracy per seed':<26} {'mean':>6} "
          f"{'s/model':>8}")
    for name in names:
        results = [train_and_evaluate(VARIANTS[name], data, seed, epochs)
                   for seed in seeds]
        accuracies = [a for a, _ in results]
        per_seed = " ".join(f"{a:.3f}" for a in accuracies)
        print(f"{name:<58} {per_seed:<26} {statistics.mean(accuracies):6.3f} "
              f"{statistics.mean(s for _, s in results):8.1f}", flush=True)
