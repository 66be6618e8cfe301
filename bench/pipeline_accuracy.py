"""JapaneseVowels test accuracy through the full TFX pipeline, noisy vs
no-noise, several seeds; prints a table (and each run's wall time).

All runs share one output folder per setting, so only Trainer, Evaluator and
Pusher re-execute between seeds (everything upstream is served from the TFX
cache); the accuracy is TFMA's on the 370 test sequences.

Usage:
    .venv/bin/python bench/pipeline_accuracy.py --output /tmp/jv_accuracy \
        [--seeds 0 1 2 3 4] [--train-steps 600] [--settings 2 3] \
        [--early-stopping-patience 0]

With ``--early-stopping-patience 0`` the Trainer runs every step and keeps
the last weights: the test split then plays no part in choosing the model.
"""

import argparse
import os
import statistics
import time

from noisy_rnn.pipeline.config import ModelConfig, PipelineConfig
from noisy_rnn.pipeline.ops import runner

GRU_ONLY = dict(conv_filters=0, label_smoothing=0.0, ema_decay=0.0)
SETTINGS = {
    "GRU alone, trainable initial state, no noise": dict(
        noise="none", **GRU_ONLY),
    "GRU alone, trainable initial state, additive noise 0.3": dict(
        noise="additive", noise_std=0.3, **GRU_ONLY),
    # The defaults: a convolutional branch beside the GRU (64 filters), label
    # smoothing 0.1 and an average of the weights (decay 0.99).
    "GRU + conv 64, no noise, smoothing 0.1, EMA 0.99": dict(noise="none"),
    "GRU + conv 64, additive noise 0.3, smoothing 0.1, EMA 0.99 (default)":
        dict(noise="additive", noise_std=0.3),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True)
    parser.add_argument("--dataset",
                        default="schemas/japanese_vowels/dataset.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--train-steps", type=int, default=600)
    parser.add_argument("--early-stopping-patience", type=int,
                        default=ModelConfig.early_stopping_patience,
                        help="0: no early stopping, last weights kept")
    parser.add_argument("--settings", type=int, nargs="+",
                        default=list(range(len(SETTINGS))),
                        help="indices into SETTINGS (default: all)")
    args = parser.parse_args()
    results = {}
    for index, (name, options) in enumerate(SETTINGS.items()):
        if index not in args.settings:
            continue
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
            accuracy = summary.metrics["sparse_categorical_accuracy"]
            results[name].append(accuracy)
            print(f"{name} | seed {seed}: accuracy {accuracy:.4f}, "
                  f"{time.perf_counter() - start:.1f} s", flush=True)
    print(f"\n{'setting':<62} {'per seed':<40} {'mean':>6}")
    for name, accuracies in results.items():
        print(f"{name:<62} {' '.join(f'{a:.3f}' for a in accuracies):<40} "
              f"{statistics.mean(accuracies):6.4f}")


if __name__ == "__main__":
    main()
