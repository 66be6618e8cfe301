"""Noise families, the std parametrisation and its prior regulariser."""

import math

import numpy as np
import pytest
import tensorflow as tf

from noisy_rnn.layers import CarriedStateNoise, StdPriorRegularizer
from noisy_rnn.layers.noise import inverse_softplus


def test_additive_noise_has_zero_mean_and_the_given_std():
    noise = CarriedStateNoise("additive", std=0.3)
    state = tf.fill((200, 500), 2.0)
    delta = (noise(state, training=True) - state).numpy()
    assert abs(delta.mean()) < 0.01
    assert delta.std() == pytest.approx(0.3, rel=0.02)


def test_multiplicative_noise_is_mean_one_so_the_state_stays_unbiased():
    noise = CarriedStateNoise("multiplicative", std=0.5)
    state = tf.fill((200, 500), 2.0)
    ratio = (noise(state, training=True) / state).numpy()
    assert ratio.mean() == pytest.approx(1.0, abs=0.01)
    assert ratio.std() == pytest.approx(0.5, rel=0.02)


@pytest.mark.parametrize("training", [False, None])
def test_noise_is_off_outside_training(training):
    noise = CarriedStateNoise("additive", std=1.0)
    state = tf.random.normal((4, 8))
    np.testing.assert_array_equal(noise(state, training=training), state)


def test_trainable_std_is_a_softplus_of_a_raw_variable():
    noise = CarriedStateNoise("additive", std=0.2, trainable_std=True)
    noise.build()
    assert noise.trainable_weights == [noise.raw_std]
    assert float(noise.std()) == pytest.approx(0.2, rel=1e-6)
    noise.raw_std.assign(-50.0)  # any raw value maps to a positive std
    assert float(noise.std()) > 0.0


def test_prior_regularizer_is_the_gaussian_kl_and_zero_at_the_prior():
    regularizer = StdPriorRegularizer(prior_std=0.2, strength=3.0)
    at_prior = regularizer(tf.constant(inverse_softplus(0.2)))
    assert float(at_prior) == pytest.approx(0.0, abs=1e-6)
    std = 0.05
    kl = math.log(0.2 / std) + std ** 2 / (2 * 0.2 ** 2) - 0.5
    value = regularizer(tf.constant(inverse_softplus(std)))
    assert float(value) == pytest.approx(3.0 * kl, rel=1e-5)


def test_prior_regularizer_round_trips_its_config():
    regularizer = StdPriorRegularizer(prior_std=0.3, strength=0.5)
    clone = StdPriorRegularizer.from_config(regularizer.get_config())
    assert clone.get_config() == {"prior_std": 0.3, "strength": 0.5}


@pytest.mark.parametrize("kwargs, argument", [
    ({"prior_std": 0.0}, "prior_std"),
    ({"prior_std": float("nan")}, "prior_std"),
    ({"strength": -1.0}, "strength"),
])
def test_prior_regularizer_rejects_bad_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        StdPriorRegularizer(**kwargs)
