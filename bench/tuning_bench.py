"""Does noise on the carried state help once it is tuned? Tuned with noise
allowed against tuned without noise, on bundled and UEA/UCR datasets.

For each dataset, seed and model kind (the default model, and the model
without its fixed linear path: the recurrent and convolutional branches
alone), one pipeline run with the Tuner (default budget; noise families
allowed, each architecture tried noise-free and noisy). "Tuned without
noise" is the best noise-free setting of that same search, trained and
evaluated by a second run (no Tuner, those options set) when the Tuner
chose a noisy one; otherwise the two are the same model. Both are scored
on the eval split, which the Tuner never reads. Prints one line per run:
test metric with and without noise, the validation gain of the best noisy
setting, the chosen setting, and the Tuner's time.

Usage:
    .venv/bin/python bench/tuning_bench.py --work /tmp/tuning
        [--datasets japanese_vowels co2 GunPoint ...] [--seeds 0 1 2]
        [--kinds default no-path]
    .venv/bin/python bench/tuning_bench.py --work /tmp/tuning --rechoose

``--rechoose`` runs nothing: it applies today's choice rule
(`choose_setting`) to every search stored under ``--work`` and prints
where the choice differs from the one the Tuner made then (the same
losses, so a changed rule is measured without retraining).
"""

import argparse
import dataclasses
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from uea_suite import fetch_archive  # noqa: E402  pylint: disable=wrong-import-position
sys.path.insert(0, os.path.join(HERE, "..", "data"))
from convert_uea import convert  # noqa: E402  pylint: disable=wrong-import-position

KINDS = ("default", "no-path")


def spec_for(name, work):
    """A bundled dataset's name as is; a UEA/UCR one converted under
    ``work``."""
    from noisy_rnn.schemas.dataset_spec import bundled_datasets  # pylint: disable=import-outside-toplevel
    if name in bundled_datasets():
        return name
    ts_dir = fetch_archive(work)
    spec, _ = convert(os.path.join(ts_dir, name), name,
                      os.path.join(work, "specs", name))
    return spec


def test_metric(summary):
    """``(name, value)``: accuracy, or MAE when regressing."""
    for name in ("sparse_categorical_accuracy", "mean_absolute_error"):
        if name in summary.metrics:
            return name, summary.metrics[name]
    raise KeyError(f"no test metric in {sorted(summary.metrics)}")


def one(spec, output, seed, kind, **tune):
    """Tuned with noise allowed (``tune``: `TuneConfig` fields), and the
    best noise-free setting of the same search: ``(with, without, tuning
    summary, chosen noisy?)``."""
    # pylint: disable=import-outside-toplevel
    from noisy_rnn.pipeline.config import (ModelConfig, PipelineConfig,
                                           TuneConfig)
    from noisy_rnn.pipeline.ops import runner
    from noisy_rnn.pipeline.trainer.tuning import has_noise
    path_off = {} if kind == "default" else {"rocket_features": 0,
                                              "autoregressive": False}
    model = ModelConfig(seed=seed, **path_off)
    config = PipelineConfig(dataset=spec, output=os.path.join(output,
                                                              "tuned"),
                            model=model, tune=TuneConfig(**tune),
                            explicit_options=sorted(path_off))
    summary = runner.run(config, echo=lambda _: None)
    tuning = summary.tuning
    with_noise = test_metric(summary)[1]
    chosen = tuning["trials"][tuning["chosen"]]
    noisy = has_noise(chosen["setting"], model)
    if not noisy:
        return with_noise, with_noise, tuning, False
    clean = min((t for t in tuning["trials"]
                 if not has_noise(t["setting"], model)),
                key=lambda t: t["mean"])
    config = PipelineConfig(
        dataset=spec, output=os.path.join(output, "noise-free"),
        model=dataclasses.replace(model, **clean["setting"]), tune=False)
    without = test_metric(runner.run(config, echo=lambda _: None))[1]
    return with_noise, without, tuning, True


def result_line(label, with_noise, without, tuning, noisy):
    """One result: test scores with and without noise, the validation gain
    of the best noisy setting, the choice and the Tuner's time."""
    from noisy_rnn.pipeline.ops.run_records import setting_text  # pylint: disable=import-outside-toplevel
    gain = tuning["noise_gain"]
    chosen = tuning["trials"][tuning["chosen"]]
    return (f"{label}: test with noise allowed {with_noise:.4f}, without "
            f"{without:.4f}; validation gain of the best noisy setting "
            f"{'n/a' if gain is None else format(gain, '.4g')}; chosen "
            f"{'NOISY' if noisy else 'noise-free'}: "
            f"{setting_text(chosen['setting'])}; tuner "
            f"{tuning['seconds']:.0f} s ({tuning['protocol']})")


def rechoose(work):
    """Today's `choose_setting` on every stored search under ``work``:
    one line per search whose choice changes, then a count."""
    # pylint: disable=import-outside-toplevel
    import glob
    import json
    from noisy_rnn.pipeline.config import ModelConfig
    from noisy_rnn.pipeline.trainer.tuning import choose_setting, has_noise
    paths = sorted(glob.glob(os.path.join(
        work, "runs", "**", "tuner_results", "*", "tuning.json"),
        recursive=True))
    changed = 0
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            tuning = json.load(handle)
        defaults = ModelConfig(**tuning["defaults"])
        then = tuning["trials"][tuning["chosen"]]
        now, reason, _ = choose_setting(tuning["trials"], defaults)
        if now is not then:
            changed += 1
            run = os.path.relpath(path, os.path.join(work, "runs"))
            print(f"{run.split('/tuned/')[0]}: was "
                  f"{'noisy' if has_noise(then['setting'], defaults) else 'noise-free'}"
                  f", now {'noisy' if has_noise(now['setting'], defaults) else 'noise-free'}"
                  f": {reason}")
    print(f"{changed} of {len(paths)} stored searches choose differently "
          f"under today's rule")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True)
    parser.add_argument("--datasets", nargs="+",
                        default=["japanese_vowels", "co2"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--kinds", nargs="+", choices=KINDS,
                        default=list(KINDS))
    parser.add_argument("--folds", type=int, default=None,
                        help="the Tuner's k (default: TuneConfig's)")
    parser.add_argument("--rechoose", action="store_true",
                        help="re-apply today's choice rule to the stored "
                             "searches under --work; run nothing")
    args = parser.parse_args()
    if args.rechoose:
        rechoose(args.work)
        return
    tune = {} if args.folds is None else {"folds": args.folds}
    for name in args.datasets:
        spec = spec_for(name, args.work)
        for kind in args.kinds:
            for seed in args.seeds:
                started = time.perf_counter()
                with_noise, without, tuning, noisy = one(
                    spec, os.path.join(args.work, "runs", name, kind,
                                       f"seed{seed}" + (f"-k{args.folds}" if
                                                        args.folds else "")),
                    seed, kind, **tune)
                print(result_line(f"{name} {kind} seed {seed}", with_noise,
                                  without, tuning, noisy)
                      + f"; all {time.perf_counter() - started:.0f} s",
                      flush=True)


if __name__ == "__main__":
    main()
