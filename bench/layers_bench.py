"""Training-step and inference time of each preset vs the stock Keras layer.

Every variant is the same model, ``Input(T, F) -> layer(units) -> Dense(1)``,
trained with Adam on an MSE loss inside one `tf.function`. Variants are timed
interleaved (round-robin, one block of calls each per repeat) so drifts in
machine load hit all of them alike; the script prints medians over repeats
and the ratio to the stock layer of the same kind (GRU or LSTM).

Two more tables: the Gaussian draw of one step's noise (TensorFlow's
`tf.random.normal` against the layers' `standard_normal`), and, with
``--xla``, the stock and noisy train steps compiled by XLA
(``jit_compile=True``), next to the stock step without it.

Usage:
    .venv/bin/python bench/layers_bench.py [--repeats 15] [--calls 5] [--xla]
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

from noisy_rnn import layers  # noqa: E402
from noisy_rnn.layers.noise import standard_normal  # noqa: E402

VARIANTS = {
    "GRU": {
        "stock": lambda u: tf_keras.layers.GRU(u),
        "TrainableInitialStateGRU": lambda u: layers.TrainableInitialStateGRU(u),
        "NoisyGRU": lambda u: layers.NoisyGRU(u),
        "TrainableInitialStateAndConstantNoiseGRU":
            lambda u: layers.TrainableInitialStateAndConstantNoiseGRU(u),
        "NoisyStateGRU(multiplicative)":
            lambda u: layers.NoisyStateGRU(u, noise="multiplicative"),
    },
    "LSTM": {
        "stock": lambda u: tf_keras.layers.LSTM(u),
        "TrainableInitialStateLSTM": lambda u: layers.TrainableInitialStateLSTM(u),
        "NoisyLSTM": lambda u: layers.NoisyLSTM(u),
        "TrainableInitialStateAndConstantNoiseLSTM":
            lambda u: layers.TrainableInitialStateAndConstantNoiseLSTM(u),
        "NoisyStateLSTM(multiplicative, h and c)":
            lambda u: layers.NoisyStateLSTM(u, noise="multiplicative",
                                            noise_on_cell_state=True),
    },
}


def make_steps(make_layer, units, time_steps, features, jit_compile=False):
    """Returns (train_step, infer_step) tf.functions for one variant; the
    train step compiled by XLA when ``jit_compile``."""
    inputs = tf_keras.Input((time_steps, features))
    model = tf_keras.Model(inputs,
                           tf_keras.layers.Dense(1)(make_layer(units)(inputs)))
    optimizer = tf_keras.optimizers.Adam(1e-3)

    @tf.function(jit_compile=jit_compile)
    def train_step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x, training=True) - y))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    @tf.function
    def infer_step(x):
        return model(x, training=False)

    return train_step, infer_step


def time_calls(fn, args, calls):
    """Milliseconds per call, over ``calls`` calls."""
    start = time.perf_counter()
    for _ in range(calls):
        result = fn(*args)
    _ = result.numpy()  # wait for the last call
    return (time.perf_counter() - start) * 1000 / calls


def interleaved_medians(functions, args, repeats, calls):
    """``{name: median ms per call}``, timed round-robin."""
    for function in functions.values():  # trace and warm up
        for _ in range(2):
            function(*args)
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            times[name].append(time_calls(function, args, calls))
    return {name: statistics.median(ms) for name, ms in times.items()}


def print_draw_table(args):
    """One training step's noise, [batch, T, units], by each generator."""
    shape = (args.batch, args.time_steps, args.units)
    draws = {"tf.random.normal": tf.function(lambda: tf.random.normal(shape)),
             "standard_normal (Box-Muller)":
                 tf.function(lambda: standard_normal(shape))}
    ms = interleaved_medians(draws, (), args.repeats, args.calls * 4)
    print(f"\n{'Gaussian draw of ' + 'x'.join(map(str, shape)):<42} "
          f"{'ms':>9} {'x tf':>8}")
    for name, value in ms.items():
        print(f"{name:<42} {value:9.2f} "
              f"{value / ms['tf.random.normal']:8.3f}")


def print_xla_table(args, x, y):
    """Train steps compiled by XLA against the stock one without it."""
    for kind, names in (("GRU", ("stock", "NoisyGRU")),
                        ("LSTM", ("stock", "NoisyLSTM"))):
        steps = {}
        for name in names:
            make = VARIANTS[kind][name]
            for jit in (False, True):
                steps[f"{name}{' (XLA)' if jit else ''}"] = make_steps(
                    make, args.units, args.time_steps, args.features,
                    jit_compile=jit)[0]
        ms = interleaved_medians(steps, (x, y), args.repeats, args.calls)
        print(f"\n{kind + ' train step, XLA':<42} {'ms':>9} {'x stock':>8}")
        for name, value in ms.items():
            print(f"{name:<42} {value:9.2f} {value / ms['stock']:8.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--time-steps", type=int, default=100)
    parser.add_argument("--features", type=int, default=12)
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--xla", action="store_true",
                        help="also time train steps compiled by XLA")
    args = parser.parse_args()

    x = tf.random.normal((args.batch, args.time_steps, args.features), seed=1)
    y = tf.random.normal((args.batch, 1), seed=2)
    print(f"TF {tf.__version__}, batch {args.batch}, T={args.time_steps}, "
          f"{args.features} features, {args.units} units; medians of "
          f"{args.repeats} interleaved repeats x {args.calls} calls")
    for kind, variants in VARIANTS.items():
        steps = {name: make_steps(make, args.units, args.time_steps,
                                  args.features)
                 for name, make in variants.items()}
        train_ms = interleaved_medians(
            {name: train for name, (train, _) in steps.items()}, (x, y),
            args.repeats, args.calls)
        infer_ms = interleaved_medians(
            {name: infer for name, (_, infer) in steps.items()}, (x,),
            args.repeats, args.calls)
        print(f"\n{kind:<42} {'train ms':>9} {'x stock':>8} "
              f"{'infer ms':>9} {'x stock':>8}")
        for name in steps:
            train, infer = train_ms[name], infer_ms[name]
            print(f"{name:<42} {train:9.2f} {train / train_ms['stock']:8.3f} "
                  f"{infer:9.2f} {infer / infer_ms['stock']:8.3f}")
    print_draw_table(args)
    if args.xla:
        print_xla_table(args, x, y)


if __name__ == "__main__":
    main()
