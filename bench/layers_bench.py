"""Training-step and inference time of each preset vs the stock Keras layer.

Every variant is the same model, ``Input(T, F) -> layer(units) -> Dense(1)``,
trained with Adam on an MSE loss inside one `tf.function`. Variants are timed
interleaved (round-robin, one block of calls each per repeat) so drifts in
machine load hit all of them alike; the script prints medians over repeats
and the ratio to the stock layer of the same kind (GRU or LSTM).

Usage:
    .venv/bin/python bench/layers_bench.py [--repeats 15] [--calls 5]
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


def make_steps(make_layer, units, time_steps, features):
    """Returns (train_step, infer_step) tf.functions for one variant."""
    inputs = tf_keras.Input((time_steps, features))
    model = tf_keras.Model(inputs,
                           tf_keras.layers.Dense(1)(make_layer(units)(inputs)))
    optimizer = tf_keras.optimizers.Adam(1e-3)

    @tf.function
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--time-steps", type=int, default=100)
    parser.add_argument("--features", type=int, default=12)
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--calls", type=int, default=5)
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
        for train_step, infer_step in steps.values():  # trace and warm up
            for _ in range(2):
                train_step(x, y)
                infer_step(x)
        train_ms = {name: [] for name in steps}
        infer_ms = {name: [] for name in steps}
        for _ in range(args.repeats):
            for name, (train_step, infer_step) in steps.items():
                train_ms[name].append(time_calls(train_step, (x, y), args.calls))
                infer_ms[name].append(time_calls(infer_step, (x,), args.calls))
        stock_train = statistics.median(train_ms["stock"])
        stock_infer = statistics.median(infer_ms["stock"])
        print(f"\n{kind:<42} {'train ms':>9} {'x stock':>8} "
              f"{'infer ms':>9} {'x stock':>8}")
        for name in steps:
            train = statistics.median(train_ms[name])
            infer = statistics.median(infer_ms[name])
            print(f"{name:<42} {train:9.2f} {train / stock_train:8.3f} "
                  f"{infer:9.2f} {infer / stock_infer:8.3f}")


if __name__ == "__main__":
    main()
