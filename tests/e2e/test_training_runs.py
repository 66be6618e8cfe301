"""Training runs that take seconds each: the trained noise std with and
without its prior (300 steps, twice), and the Trainer's early stopping over
eval rounds, including dropping a linear path the branches beat."""

import math

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from repo_files import padded_batch

from noisy_rnn.layers import NoisyGRU, StdPriorRegularizer
from noisy_rnn.pipeline.config import ModelConfig
from noisy_rnn.pipeline.trainer import linear_paths
from noisy_rnn.pipeline.trainer.architecture import LINEAR_OFFSET, build_model
from noisy_rnn.pipeline.trainer.training import (BRANCHES_ALONE, PATH_DROPPED,
                                                 WITH_PATH, loss_and_metric,
                                                 prefer_branches_alone, train)


def _train_std(regularizer, steps=300):
    """Trains a NoisyGRU where noise only hurts; returns the std per step."""
    tf_keras.utils.set_random_seed(0)
    inputs = tf_keras.Input((10, 2))
    layer = NoisyGRU(8, noise_std_init=0.5, noise_std_regularizer=regularizer)
    model = tf_keras.Model(inputs, tf_keras.layers.Dense(1)(layer(inputs)))
    x = tf.random.normal((64, 10, 2))
    y = tf.reduce_sum(x[:, :, :1], axis=1)
    optimizer = tf_keras.optimizers.Adam(0.02)

    @tf.function
    def train_step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x, training=True) - y))
            loss += tf.add_n(model.losses) if model.losses else 0.0
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))

    history = []
    for _ in range(steps):
        train_step()
        history.append(float(layer.carried_state_noise.std()))
    return history


def test_trained_std_shrinks_without_a_prior_and_settles_with_one():
    free = _train_std(None)
    held = _train_std(StdPriorRegularizer(prior_std=0.5, strength=5.0))
    assert free[-1] < 0.2 * free[0]  # the task loss alone drives it down
    assert free[-1] < 0.9 * free[len(free) // 2]  # ... and keeps doing so
    assert 0.2 < held[-1] < 0.5  # positive, below the prior: a balance
    tail = held[-50:]
    assert max(tail) - min(tail) < 0.05  # it has settled there
    assert held[-1] > 2 * free[-1]


def _labelled(label, repeat):
    values, mask = padded_batch([5, 3, 4, 2], time=5, seed=1)
    data = tf.data.Dataset.from_tensor_slices(
        ({"values": values, "mask": mask}, np.full(4, label, np.int64)))
    return data.batch(4).repeat() if repeat else data.batch(4)


def _eval_loss(model, data):
    _, eval_loss, _ = loss_and_metric(2)
    (inputs, labels), = list(data)
    return float(eval_loss(labels, model(inputs, training=False)))


@pytest.mark.parametrize("patience", [0, 1])
def test_early_stopping_keeps_the_best_round_and_patience_0_the_last(
        tmp_path, patience):
    # Training teaches label 0, the eval split says 1: every round is worse.
    config = ModelConfig(units=4, noise="none", conv_filters=0,
                         label_smoothing=0.0, ema_decay=0.0, train_steps=40,
                         eval_every=10, learning_rate=0.05,
                         early_stopping_patience=patience)
    model = build_model(config, 3, 2)
    history = train(model, _labelled(0, True), _labelled(1, False), config,
                    str(tmp_path))
    losses = history["val_loss"]
    assert losses == sorted(losses) and losses[0] < losses[-1]
    if patience:  # stopped at the first worse round, the first one restored
        assert history["step"] == [10, 20]
        assert _eval_loss(model, _labelled(1, False)) == pytest.approx(
            losses[0], rel=1e-5)
    else:  # every step run, the last weights kept
        assert history["step"] == [10, 20, 30, 40]
        assert _eval_loss(model, _labelled(1, False)) == pytest.approx(
            losses[-1], rel=1e-5)


def test_the_starting_model_is_a_candidate_when_asked(tmp_path):
    # As above, every round is worse than the untrained start: kept.
    config = ModelConfig(units=4, noise="none", conv_filters=0,
                         label_smoothing=0.0, ema_decay=0.0, train_steps=40,
                         eval_every=10, learning_rate=0.05,
                         early_stopping_patience=2)
    model = build_model(config, 3, 2)
    start = _eval_loss(model, _labelled(1, False))
    history = train(model, _labelled(0, True), _labelled(1, False), config,
                    str(tmp_path), evaluate_start=True)
    assert history["step"] == [0, 10, 20]
    assert math.isnan(history["train_loss"][0])
    assert history["val_loss"][0] == pytest.approx(start, rel=1e-5)
    assert _eval_loss(model, _labelled(1, False)) == pytest.approx(
        start, rel=1e-5)


def _sign_task(count, seed):
    """Sequences labelled by the sign of their first channel's mean, with a
    path output of large noise, which Adam cannot scale away exactly."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(count, 6, 2)).astype(np.float32)
    labels = (values[:, :, 0].mean(1) > 0).astype(np.int64)
    offsets = 1000.0 * rng.normal(size=(count, 2)).astype(np.float32)
    return tf.data.Dataset.from_tensor_slices((
        {"values": values, "mask": np.ones((count, 6), bool),
         "offset": offsets}, labels))


def test_branches_that_beat_a_useless_path_drop_it(tmp_path):
    tf_keras.utils.set_random_seed(0)
    sequences = [np.random.default_rng(i).normal(size=(6, 2)) for i in
                 range(8)]
    path = linear_paths.fit_rocket_ridge(sequences, [0, 1] * 4, 2, seed=0,
                                         num_features=168)
    config = ModelConfig(units=8, noise="none", conv_filters=4,
                         label_smoothing=0.0, ema_decay=0.0, train_steps=150,
                         eval_every=50, learning_rate=0.02,
                         early_stopping_patience=2)
    model = build_model(config, 2, 2, linear_path=path)
    history = train(model.trained_part,
                    _sign_task(256, 0).batch(32).repeat(),
                    _sign_task(128, 1).batch(32), config,
                    str(tmp_path), evaluate_start=True)
    kept = int(np.argmin(history["val_loss"]))
    assert history[PATH_DROPPED][kept] == 1.0
    assert history[BRANCHES_ALONE][kept] < history[WITH_PATH][kept]
    offset_layer = model.trained_part.get_layer(LINEAR_OFFSET)
    assert float(offset_layer.scale) == 0.0
    inputs, _ = next(iter(_sign_task(16, 2).batch(16)))
    combined, alone = model.trained_part(inputs)
    assert np.allclose(combined, alone, atol=1e-6)
    assert history["val_accuracy"][kept] > 0.8


def test_the_branches_alone_must_beat_the_path_by_a_standard_error():
    steady = [1.0, 1.1, 0.9, 1.0]
    assert prefer_branches_alone(steady, [x - 0.1 for x in steady])
    # Lower on average, but by less than the spread of the differences.
    assert not prefer_branches_alone([1.0, 1.0, 1.0, 1.0],
                                     [0.2, 1.7, 0.3, 1.6])
    assert not prefer_branches_alone(steady, steady)
    assert not prefer_branches_alone([1.0], [0.0])  # one example: no spread
