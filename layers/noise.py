"""Gaussian noise on the hidden state a recurrent cell carries to its next step.

Two families:

* ``"additive"``: ``h + std * eps``.
* ``"multiplicative"``: ``h * (1 + std * eps)``, mean-one Gaussian noise, so the
  noisy state is an unbiased estimate of the clean one (Noisin, Dieng et al.
  2018).

with ``eps ~ N(0, 1)``. The std is a fixed float, or a trainable scalar kept
positive by a softplus: ``std = softplus(raw_std)``. A trainable std optimised
on the task loss alone drifts towards 0 (noise only hurts the training loss);
`StdPriorRegularizer` is the opt-in counterweight.
"""

import math

import tensorflow as tf
import tf_keras

from noisy_rnn.layer_arguments import (  # noqa: F401  (re-exported)
    INITIAL_STATE_MODES, NOISE_FAMILIES, inverse_softplus,
    validate_carried_state_args, validate_std_prior_args)

@tf_keras.saving.register_keras_serializable(package="noisy_rnn")
class StdPriorRegularizer(tf_keras.regularizers.Regularizer):
    """Keeps a trainable, softplus-parametrised noise std away from 0.

    Adds ``strength * KL(N(0, std^2) || N(0, prior_std^2))``, i.e.
    ``strength * (log(prior_std / std) + std^2 / (2 prior_std^2) - 1/2)``.
    The penalty is 0 at ``std == prior_std`` and grows without bound as
    ``std -> 0``, so the task loss (which pulls the std down) and this term
    balance at a positive std below ``prior_std``; a larger ``strength``
    moves the balance point towards ``prior_std``.

    It is applied to the raw (pre-softplus) variable, which is how Keras
    passes weights to regularizers.

    Args:
      prior_std: positive float, the std the penalty pulls towards.
      strength: non-negative float, the weight of the penalty in the loss.

    Example:

    >>> layer = NoisyGRU(
    ...     16, noise_std_init=0.2,
    ...     noise_std_regularizer=StdPriorRegularizer(prior_std=0.2,
    ...                                               strength=1e-2))
    """

    def __init__(self, prior_std=0.1, strength=1e-2):
        validate_std_prior_args(prior_std, strength)
        self.prior_std = float(prior_std)
        self.strength = float(strength)

    def __call__(self, raw_std):
        ratio = tf.nn.softplus(raw_std) / self.prior_std
        kl = 0.5 * tf.square(ratio) - tf.math.log(ratio) - 0.5
        return self.strength * tf.reduce_sum(kl)

    def get_config(self):
        return {"prior_std": self.prior_std, "strength": self.strength}


def standard_normal(shape, dtype=tf.float32):
    """N(0, 1) samples of ``shape`` by the Box-Muller transform of uniforms.

    Exact, like `tf.random.normal` (which also transforms Philox uniforms),
    but built from `tf.random.uniform` and elementwise ops, which use every
    core: measured 1.6x faster than `tf.random.normal` for a sequence's
    noise on a 2-core CPU (`bench/layers_bench.py --draws`). Each pair of
    uniforms ``(u1, u2)`` gives two independent normals,
    ``sqrt(-2 log(1 - u1)) * (cos, sin)(2 pi u2)``.
    """
    shape = tf.convert_to_tensor(shape, tf.int32)
    size = tf.reduce_prod(shape)
    pairs = (size + 1) // 2
    uniform = tf.random.uniform(tf.stack([2, pairs]), dtype=dtype)
    radius = tf.sqrt(-2.0 * tf.math.log1p(-uniform[0]))
    angle = (2.0 * math.pi) * uniform[1]
    normals = tf.concat([radius * tf.cos(angle), radius * tf.sin(angle)], 0)
    return tf.reshape(normals[:size], shape)


def apply_when_training(training, fn, value):
    """Returns ``fn(value)`` in training and ``value`` otherwise.

    ``training`` may be None (inference), a Python bool, or a boolean tensor
    (resolved with a graph conditional).
    """
    if training is None or training is False:
        return value
    if training is True:
        return fn(value)
    return tf.__internal__.smart_cond.smart_cond(
        training, lambda: fn(value), lambda: value)


@tf_keras.saving.register_keras_serializable(package="noisy_rnn")
class CarriedStateNoise(tf_keras.layers.Layer):
    """Gaussian noise for a recurrent state, active only in training.

    The noise is drawn in two steps so a recurrent layer can sample a whole
    sequence of it in one op outside its time loop: `perturbation(shape)`
    draws it, `perturber()` returns the function that applies one step of
    it.

    Args:
      family: ``"additive"`` or ``"multiplicative"``.
      std: initial (or fixed) standard deviation, a float >= 0.
      trainable_std: if True, the std is a trainable scalar,
        ``softplus(raw_std)``.
      std_regularizer: optional regularizer of the raw std, e.g.
        `StdPriorRegularizer`; only used when ``trainable_std``.
      **kwargs: base `Layer` arguments.

    Call arguments:
      inputs: a state tensor.
      training: Python bool or boolean tensor; noise only when true.

    Example:

    >>> noise = CarriedStateNoise("multiplicative", std=0.1)
    >>> noisy = noise(tf.ones((2, 4)), training=True)
    """

    def __init__(self, family="additive", std=0.1, trainable_std=False,
                 std_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        validate_carried_state_args(f"CarriedStateNoise '{self.name}'",
                                    noise=family, noise_std=std,
                                    noise_std_trainable=trainable_std)
        self.family = family
        self.initial_std = float(std)
        self.trainable_std = bool(trainable_std)
        self.std_regularizer = tf_keras.regularizers.get(std_regularizer)

    def build(self, input_shape=None):
        if self.trainable_std:
            self.raw_std = self.add_weight(
                name="raw_std", shape=(),
                initializer=tf_keras.initializers.Constant(
                    inverse_softplus(self.initial_std)),
                regularizer=self.std_regularizer, trainable=True)
        self.built = True

    def std(self, dtype=tf.float32):
        """The current standard deviation as a scalar tensor."""
        if self.trainable_std:
            return tf.cast(tf.nn.softplus(self.raw_std), dtype)
        return tf.constant(self.initial_std, dtype)

    def perturbation(self, shape, dtype=tf.float32):
        """Draws noise of ``shape``, in the form `perturber` applies: scaled
        by a fixed std here; unit normals when the std is trained (scaled in
        each step, so the std's gradient is summed step by step instead of
        through a gradient as large as the noise)."""
        normals = standard_normal(shape, dtype)
        if self.trainable_std:
            return normals
        scaled = self.std(dtype) * normals
        return 1.0 + scaled if self.family == "multiplicative" else scaled

    def perturber(self, dtype=tf.float32):
        """Returns ``apply(state, perturbation)``, one step of noise drawn by
        `perturbation`; the std is read here, once, not at every step."""
        std = self.std(dtype) if self.trainable_std else None
        multiplicative = self.family == "multiplicative"

        def apply(state, perturbation):
            if std is not None:
                perturbation = std * perturbation
                return state + state * perturbation if multiplicative \
                    else state + perturbation
            return state * perturbation if multiplicative \
                else state + perturbation

        return apply

    def add_to(self, state):
        """Returns ``state`` with freshly drawn noise (no training check)."""
        return self.perturber(state.dtype)(
            state, self.perturbation(tf.shape(state), state.dtype))

    def call(self, inputs, training=None):
        return apply_when_training(training, self.add_to, inputs)

    def get_config(self):
        config = super().get_config()
        config.update({
            "family": self.family,
            "std": self.initial_std,
            "trainable_std": self.trainable_std,
            "std_regularizer": tf_keras.regularizers.serialize(
                self.std_regularizer),
        })
        return config
