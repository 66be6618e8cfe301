"""Keras 3 layers against the stock Keras 3 GRU/LSTM, per backend: training
step and inference time.

Every variant is the same model, ``Input(T, F) -> layer(units) -> Dense(1)``,
compiled with Adam and an MSE loss with Keras' defaults for the backend
(``jit_compile="auto"``), timed through ``train_on_batch`` and
``predict_on_batch``. Variants are timed interleaved (round-robin, a block of
calls each per repeat); the script prints medians and the ratio to the
stock layer of the same kind. Each backend runs in its own process (Keras
fixes the backend at import).

Usage:
    .venv/bin/python bench/keras3_bench.py [--backends tensorflow jax]
        [--repeats 9] [--calls 5]
"""

import argparse
import os
import statistics
import subprocess
import sys
import time


def variants():
    """``{kind: {name: make(units)}}``; imports Keras (the backend is set)."""
    # pylint: disable=import-outside-toplevel
    import keras

    from noisy_rnn import keras3
    return {
        "GRU": {
            "stock": lambda u: keras.layers.GRU(u),
            "TrainableInitialStateGRU": keras3.TrainableInitialStateGRU,
            "NoisyGRU": keras3.NoisyGRU,
            "TrainableInitialStateAndConstantNoiseGRU":
                keras3.TrainableInitialStateAndConstantNoiseGRU,
        },
        "LSTM": {
            "stock": lambda u: keras.layers.LSTM(u),
            "TrainableInitialStateLSTM": keras3.TrainableInitialStateLSTM,
            "NoisyLSTM": keras3.NoisyLSTM,
            "TrainableInitialStateAndConstantNoiseLSTM":
                keras3.TrainableInitialStateAndConstantNoiseLSTM,
        },
    }


def compiled_model(make_layer, args):
    """The benchmark model around one layer, compiled."""
    import keras  # pylint: disable=import-outside-toplevel
    keras.utils.set_random_seed(0)
    inputs = keras.Input((args.time_steps, args.features))
    model = keras.Model(inputs,
                        keras.layers.Dense(1)(make_layer(args.units)(inputs)))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    return model


def interleaved_medians(functions, repeats, calls):
    """``{name: median ms per call}``, timed round-robin after a warm-up."""
    for function in functions.values():
        for _ in range(2):
            function()
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            for _ in range(calls):
                function()
            times[name].append((time.perf_counter() - start) * 1000 / calls)
    return {name: statistics.median(ms) for name, ms in times.items()}


def run_backend(args):
    """The table for the backend this process runs (``KERAS_BACKEND``)."""
    import keras  # pylint: disable=import-outside-toplevel
    import numpy as np  # pylint: disable=import-outside-toplevel
    rng = np.random.default_rng(1)
    x = rng.normal(size=(args.batch, args.time_steps,
                         args.features)).astype("float32")
    y = rng.normal(size=(args.batch, 1)).astype("float32")
    print(f"backend {keras.backend.backend()} (Keras {keras.__version__}), "
          f"batch {args.batch}, T={args.time_steps}, {args.features} "
          f"features, {args.units} units; medians of {args.repeats} "
          f"interleaved repeats x {args.calls} calls", flush=True)
    for kind, makers in variants().items():
        models = {name: compiled_model(make, args)
                  for name, make in makers.items()}
        train_ms = interleaved_medians(
            {name: (lambda m=m: m.train_on_batch(x, y))
             for name, m in models.items()}, args.repeats, args.calls)
        infer_ms = interleaved_medians(
            {name: (lambda m=m: m.predict_on_batch(x))
             for name, m in models.items()}, args.repeats, args.calls)
        print(f"\n{kind:<44} {'train ms':>9} {'x stock':>8} "
              f"{'infer ms':>9} {'x stock':>8}")
        for name in models:
            train, infer = train_ms[name], infer_ms[name]
            print(f"{name:<44} {train:9.2f} {train / train_ms['stock']:8.3f} "
                  f"{infer:9.2f} {infer / infer_ms['stock']:8.3f}",
                  flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+",
                        default=["tensorflow", "jax"])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--time-steps", type=int, default=100)
    parser.add_argument("--features", type=int, default=12)
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--this-process", action="store_true",
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.this_process:
        run_backend(args)
        return
    passed = [a for a in sys.argv[1:] if a != "--backends" and
              a not in args.backends]
    for backend in args.backends:
        subprocess.run([sys.executable, __file__, "--this-process", *passed],
                       env={**os.environ, "KERAS_BACKEND": backend,
                            "TF_CPP_MIN_LOG_LEVEL": "2"}, check=True)
        print()


if __name__ == "__main__":
    main()
