"""Noise families, the std parametrisation and its prior regulariser."""

import math

import numpy as np
import pytest
import tensorflow as tf

from noisy_rnn.layers import CarriedStateNoise, StdPriorRegularizer
from scipy import stats

from noisy_rnn.layers.noise import inverse_softplus, standard_normal


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


@pytest.mark.parametrize("shape", [(3, 7, 5), (1,), (2, 1, 33)])
def test_standard_normal_has_the_shape_and_dtype_asked_for(shape):
    for dtype in (tf.float32, tf.float64):
        draws = standard_normal(shape, dtype)
        assert draws.shape == shape and draws.dtype == dtype
        assert np.all(np.isfinite(draws.numpy()))


def test_standard_normal_is_gaussian_and_its_pairs_independent():
    """Box-Muller: each uniform pair gives the two normals at positions
    i and i + n/2 of the flattened draw; both halves and their pairing
    must look like independent N(0, 1) samples."""
    tf.random.set_seed(7)
    draws = standard_normal((400, 501)).numpy().ravel()
    assert abs(draws.mean()) < 5 / math.sqrt(draws.size)
    assert draws.std() == pytest.approx(1.0, abs=0.005)
    assert stats.kstest(draws, "norm").pvalue > 1e-3
    assert abs(stats.kurtosis(draws)) < 0.03  # excess kurtosis of N(0, 1)
    half = draws.size // 2
    cosines, sines = draws[:half], draws[half:2 * half]
    for a, b in ((cosines, sines), (cosines ** 2, sines ** 2)):
        assert abs(np.corrcoef(a, b)[0, 1]) < 0.01
    assert stats.kstest(np.hypot(cosines, sines) ** 2, "chi2",
                        args=(2,)).pvalue > 1e-3


def test_trainable_std_gets_the_gradient_of_the_noise_it_scales():
    """d/d(std) of sum(w * (state + std * eps)) is sum(w * eps): scaled
    in the step, the std still gets the whole noise's gradient."""
    noise = CarriedStateNoise("additive", std=0.5, trainable_std=True)
    noise.build()
    eps = noise.perturbation((64, 10))
    weights = tf.random.normal((64, 10))
    with tf.GradientTape() as tape:
        noisy = noise.perturber()(tf.zeros((64, 10)), eps)
        loss = tf.reduce_sum(weights * noisy)
    d_std_d_raw = tf.sigmoid(noise.raw_std)  # softplus' derivative
    np.testing.assert_allclose(
        tape.gradient(loss, noise.raw_std),
        tf.reduce_sum(weights * eps) * d_std_d_raw, rtol=1e-5)


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
