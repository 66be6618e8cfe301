"""Which scoring protocol can tell two settings apart? The Tuner's
validation slice (several seeds) against k-fold cross-validation (k = 3,
5), on the same pair of settings: noise-free and additive noise (std
0.3), the rest as the defaults.

One pipeline run per protocol in one output folder (ExampleGen, Transform
and the rest cached; the Tuner reruns). For each it prints the two
settings' losses per run, the paired gain of the noisy one, its standard
error, their ratio (|gain| / SE: above 1, the rule lets the better one
win), the spread of each setting's losses, and the Tuner's time. By
default without the fixed linear path, so the recurrent layers, where the
noise is, make the predictions.

Usage:
    .venv/bin/python bench/tuning_protocols.py --output /tmp/protocols
        [--dataset japanese_vowels] [--with-path] [--seed 0]
"""

import argparse

import numpy as np

PROTOCOLS = (("validation slice, 3 seeds", dict(cv_below=0, seeds=3)),
             ("3-fold CV", dict(cv_below=10 ** 9, folds=3)),
             ("5-fold CV", dict(cv_below=10 ** 9, folds=5)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True)
    parser.add_argument("--dataset", default="japanese_vowels")
    parser.add_argument("--with-path", action="store_true",
                        help="keep the fixed linear path (the default model)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    # pylint: disable=import-outside-toplevel
    from noisy_rnn.pipeline.config import (ModelConfig, PipelineConfig,
                                           TuneConfig)
    from noisy_rnn.pipeline.ops import runner
    from noisy_rnn.pipeline.trainer.paired import paired_gain
    path_off = {} if args.with_path else {"rocket_features": 0,
                                           "autoregressive": False}
    space = {"noise": ["none", "additive"], "noise_std": [0.3]}
    for name, budget in PROTOCOLS:
        config = PipelineConfig(
            dataset=args.dataset, output=args.output,
            model=ModelConfig(seed=args.seed, **path_off),
            tune=TuneConfig(trials=2, space=dict(space), **budget),
            explicit_options=sorted(path_off) + [
                "initial_state", "units", "conv_filters"])
        tuning = runner.run(config, echo=lambda _: None).tuning
        clean, noisy = tuning["trials"]
        gain, error = paired_gain(clean["losses"], noisy["losses"])
        print(f"{args.dataset} {name}: none "
              f"{' '.join(f'{v:.4f}' for v in clean['losses'])} | additive "
              f"{' '.join(f'{v:.4f}' for v in noisy['losses'])}; gain of "
              f"noise {gain:+.4f}, SE {error:.4f}, |gain|/SE "
              f"{abs(gain) / error:.2f}; sd none {np.std(clean['losses'], ddof=1):.4f}"
              f", additive {np.std(noisy['losses'], ddof=1):.4f}; tuner "
              f"{tuning['seconds']:.0f} s", flush=True)


if __name__ == "__main__":
    main()
