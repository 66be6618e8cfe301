"""Eval-split quality through the full TFX pipeline, noisy vs no-noise,
several seeds; prints a table (and each run's wall time).

Classification (JapaneseVowels, the default): TFMA's accuracy on the 370
test sequences. Regression (``--dataset co2``): the model's MAE beside
persistence's and seasonal-naive's on the same eval windows.

Model selection (early stopping) uses the validation slice the
SequenceExampleGen carves from train, by seed; the eval split is only
scored. All runs of a setting share one output folder (the TFX cache serves
what a seed does not change).

Usage:
    .venv/bin/python bench/pipeline_accuracy.py --output /tmp/jv_accuracy \
        [--dataset japanese_vowels] [--seeds 0 1 2 3 4] [--train-steps 600] \
        [--settings 2 3] [--early-stopping-patience 0]
"""

import argparse
import glob
import json
import os
import statistics
import time

from noisy_rnn.pipeline.config import ModelConfig, PipelineConfig
from noisy_rnn.pipeline.ops import runner

ACCURACY, MAE = "sparse_categorical_accuracy", "mean_absolute_error"
NAIVE = ("persistence_mae", "seasonal_naive_mae")
NO_PATH = dict(rocket_features=0, autoregressive=False)
GRU_ONLY = dict(conv_filters=0, label_smoothing=0.0, ema_decay=0.0,
                **NO_PATH)
SETTINGS = {
    "GRU alone, trainable initial state, no noise": dict(
        noise="none", **GRU_ONLY),
    "GRU alone, trainable initial state, additive noise 0.3": dict(
        noise="additive", noise_std=0.3, **GRU_ONLY),
    # The defaults: the linear path (MiniRocket ridge / ridge AR), a
    # convolutional branch beside the GRU (64 filters), label smoothing 0.1
    # and an average of the weights (decay 0.99).
    "linear path + GRU + conv 64, no noise, smoothing 0.1, EMA 0.99": dict(
        noise="none"),
    "linear path + GRU + conv 64, additive noise 0.3, smoothing 0.1, EMA "
    "0.99 (default)": dict(noise="additive", noise_std=0.3),
    "GRU + conv 64, additive noise 0.3, smoothing 0.1, EMA 0.99, no linear "
    "path (the default before)": dict(noise="additive", noise_std=0.3,
                                      **NO_PATH),
}


def kept_round(pipeline_root):
    """The latest Trainer run's validation loss and metric at the round
    early stopping kept (lowest validation loss), from its history."""
    runs = glob.glob(os.path.join(pipeline_root, "Trainer", "model_run",
                                  "*", "history.json"))
    path = max(runs, key=lambda p: int(p.split(os.sep)[-2]))
    with open(path, encoding="utf-8") as f:
        history = json.load(f)
    best = min(range(len(history["val_loss"])),
               key=history["val_loss"].__getitem__)
    metric = next(k for k in history if k.startswith("val_") and
                  k != "val_loss")
    return (f"step {history['step'][best]}, loss "
            f"{history['val_loss'][best]:.4f}, {metric[4:]} "
            f"{history[metric][best]:.4f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True)
    parser.add_argument("--dataset", default="japanese_vowels")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--train-steps", type=int, default=600)
    parser.add_argument("--early-stopping-patience", type=int,
                        default=ModelConfig.early_stopping_patience,
                        help="0: no early stopping, last weights kept")
    parser.add_argument("--noise-std", type=float, default=None,
                        help="the noisy settings' std instead of theirs")
    parser.add_argument("--settings", type=int, nargs="+",
                        default=list(range(len(SETTINGS))),
                        help="indices into SETTINGS (default: all)")
    args = parser.parse_args()
    results = {}
    for index, (name, options) in enumerate(SETTINGS.items()):
        if index not in args.settings:
            continue
        if args.noise_std is not None and options["noise"] != "none":
            options = dict(options, noise_std=args.noise_std)
            name = name.replace("0.3", f"{args.noise_std:g}")
        results[name] = []
        for seed in args.seeds:
            config = PipelineConfig(
                dataset=args.dataset,
                output=os.path.join(args.output, f"setting{index}"),
                model=ModelConfig(
                    seed=seed, train_steps=args.train_steps,
                    early_stopping_patience=args.early_stopping_patience,
                    **options))
            start = time.perf_counter()
            summary = runner.run(config, echo=lambda _: None)
            metrics = summary.metrics
            value = metrics.get(ACCURACY, metrics.get(MAE))
            results[name].append(value)
            naive = "".join(f", {key} {metrics[key]:.4f}" for key in NAIVE
                            if key in metrics)
            kept = kept_round(config.pipeline_root)
            count = summary.example_counts.get("examples_validation")
            print(f"{name} | seed {seed}: "
                  f"{ACCURACY if ACCURACY in metrics else MAE} {value:.4f}"
                  f"{naive}; validation ({count} examples) at the kept "
                  f"round: {kept}; blessed {summary.blessed}, "
                  f"{time.perf_counter() - start:.1f} s", flush=True)
    print(f"\n{'setting':<70} {'per seed':<40} {'mean':>6}")
    for name, values in results.items():
        print(f"{name:<70} {' '.join(f'{a:.3f}' for a in values):<40} "
              f"{statistics.mean(values):6.4f}")


if __name__ == "__main__":
    main()
