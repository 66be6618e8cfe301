"""GRU and LSTM cells with a trainable initial state and carried-state noise.

Each cell is the stock `tf_keras` cell plus two things:

* ``initial_state_mode="trainable"``: one trainable vector per state (GRU:
  ``h``; LSTM: ``h`` and ``c``), tiled over the batch by `get_initial_state`,
  which every Keras RNN layer asks when no ``initial_state`` is passed.
* ``noise``: Gaussian noise added to the state the cell **carries to its next
  step** (and, being that state, to its output), only when ``training``.

Besides the one-step `call`, each cell exposes `noise_free_call` (the stock
step) and `perturb_states` (apply noise drawn beforehand), so a layer can draw
the noise of a whole sequence in one op outside its time loop.
"""

import tensorflow as tf
import tf_keras

from noisy_rnn.layers.noise import (CarriedStateNoise, apply_when_training,
                                    validate_carried_state_args)


class _CarriedStateCellMixin:
    """Trainable initial state and carried-state noise shared by both cells.

    A subclass sets ``STATE_NAMES`` (names of its states, in state order)
    and calls `_init_carried_state` in ``__init__``.
    """

    STATE_NAMES = ()

    def _init_carried_state(self, initial_state_mode, noise, noise_std,
                            noise_std_trainable, noise_std_regularizer,
                            noisy_state_names):
        validate_carried_state_args(
            f"{type(self).__name__} '{self.name}'", units=self.units,
            initial_state_mode=initial_state_mode, noise=noise,
            noise_std=noise_std, noise_std_trainable=noise_std_trainable)
        self.initial_state_mode = initial_state_mode
        # One bool per state, in state order: is it perturbed?
        self.noisy_state_flags = tuple(
            noise is not None and name in noisy_state_names
            for name in self.STATE_NAMES)
        self.carried_state_noise = None
        if noise is not None:
            self.carried_state_noise = CarriedStateNoise(
                family=noise, std=noise_std, trainable_std=noise_std_trainable,
                std_regularizer=noise_std_regularizer, dtype=self.dtype,
                name="carried_state_noise")

    def build(self, input_shape):
        super().build(input_shape)
        self.initial_state_vectors = []
        if self.initial_state_mode == "trainable":
            self.initial_state_vectors = [
                self.add_weight(name=f"initial_state_{name}",
                                shape=(self.units,), initializer="zeros")
                for name in self.STATE_NAMES]
        if self.carried_state_noise is not None:
            self.carried_state_noise.build()

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        """Zeros, or the trainable vectors tiled to ``[batch_size, units]``."""
        if self.initial_state_mode == "zeros":
            return super().get_initial_state(inputs, batch_size, dtype)
        if batch_size is None:
            batch_size = tf.shape(inputs)[0]
        dtype = dtype or self.compute_dtype
        states = [tf.tile(tf.cast(vector, dtype)[tf.newaxis], [batch_size, 1])
                  for vector in self.initial_state_vectors]
        return states if len(states) > 1 else states[0]

    def carried_state_config(self):
        """The constructor arguments this mixin adds, for `get_config`."""
        noise = self.carried_state_noise
        return {
            "initial_state_mode": self.initial_state_mode,
            "noise": noise.family if noise else None,
            "noise_std": noise.initial_std if noise else 0.1,
            "noise_std_trainable": noise.trainable_std if noise else False,
            "noise_std_regularizer": tf_keras.regularizers.serialize(
                noise.std_regularizer) if noise else None,
        }

    def noise_free_call(self, inputs, states, training=None):
        """The stock cell's step: ``(output, new_states)`` without noise."""
        return super().call(inputs, states, training=training)

    def perturb_states(self, states, perturbations, perturber):
        """Applies one step of pre-drawn noise, one perturbation per noisy
        state, in state order, with ``perturber`` (from
        ``carried_state_noise.perturber()``); the other states pass
        through."""
        perturbations = iter(perturbations)
        return [perturber(state, next(perturbations)) if noisy else state
                for state, noisy in zip(states, self.noisy_state_flags)]

    def call(self, inputs, states, training=None):
        _, new_states = self.noise_free_call(inputs, states, training)
        nested = tf.nest.is_nested(new_states)
        new_states = tf.nest.flatten(new_states)
        if self.carried_state_noise is not None:
            noise = self.carried_state_noise
            new_states = [
                apply_when_training(training, noise.add_to, state)
                if noisy else state
                for state, noisy in zip(new_states, self.noisy_state_flags)]
        return new_states[0], new_states if nested else new_states[0]


@tf_keras.saving.register_keras_serializable(package="noisy_rnn")
class NoisyStateGRUCell(_CarriedStateCellMixin, tf_keras.layers.GRUCell):
    """GRU cell whose carried state is noisy in training and whose initial
    state can be trained.

    Args:
      units: positive integer, dimensionality of the state.
      initial_state_mode: ``"zeros"`` (stock) or ``"trainable"`` (a trained
        vector, tiled over the batch). An explicit ``initial_state`` passed to
        the RNN layer still wins.
      noise: None, ``"additive"`` or ``"multiplicative"`` (see `layers.noise`).
      noise_std: float >= 0, the (initial) std of the noise.
      noise_std_trainable: whether the std is trained (softplus-parametrised).
      noise_std_regularizer: optional regularizer of the raw std, e.g.
        `StdPriorRegularizer`, so a trained std does not collapse to 0.
      **kwargs: every `tf_keras.layers.GRUCell` argument.

    Call arguments:
      inputs: a 2D tensor ``[batch, features]``.
      states: list with one tensor ``[batch, units]``.
      training: Python bool or boolean tensor; noise is added only when true.

    Example:

    >>> cell = NoisyStateGRUCell(8, noise="additive", noise_std=0.1)
    >>> rnn = tf_keras.layers.RNN(cell)
    >>> rnn(tf.zeros((2, 5, 3)), training=True).shape
    TensorShape([2, 8])
    """

    STATE_NAMES = ("h",)

    def __init__(self, units, initial_state_mode="zeros", noise=None,
                 noise_std=0.1, noise_std_trainable=False,
                 noise_std_regularizer=None, **kwargs):
        super().__init__(units, **kwargs)
        self._init_carried_state(initial_state_mode, noise, noise_std,
                                 noise_std_trainable, noise_std_regularizer,
                                 noisy_state_names=("h",))

    def get_config(self):
        return {**super().get_config(), **self.carried_state_config()}


@tf_keras.saving.register_keras_serializable(package="noisy_rnn")
class NoisyStateLSTMCell(_CarriedStateCellMixin, tf_keras.layers.LSTMCell):
    """LSTM cell whose carried state is noisy in training and whose initial
    state can be trained.

    Args:
      units: positive integer, dimensionality of ``h`` and ``c``.
      initial_state_mode: ``"zeros"`` (stock) or ``"trainable"`` (trained
        vectors for ``h`` and ``c``, tiled over the batch). An explicit
        ``initial_state`` passed to the RNN layer still wins.
      noise: None, ``"additive"`` or ``"multiplicative"`` (see `layers.noise`).
      noise_std: float >= 0, the (initial) std of the noise.
      noise_std_trainable: whether the std is trained (softplus-parametrised).
      noise_std_regularizer: optional regularizer of the raw std.
      noise_on_cell_state: also perturb the carried cell state ``c`` (``h`` is
        always perturbed when ``noise`` is set); one shared std.
      **kwargs: every `tf_keras.layers.LSTMCell` argument.

    Call arguments:
      inputs: a 2D tensor ``[batch, features]``.
      states: list ``[h, c]``, each ``[batch, units]``.
      training: Python bool or boolean tensor; noise is added only when true.

    Example:

    >>> cell = NoisyStateLSTMCell(8, initial_state_mode="trainable",
    ...                           noise="multiplicative", noise_std=0.1)
    >>> tf_keras.layers.RNN(cell)(tf.zeros((2, 5, 3))).shape
    TensorShape([2, 8])
    """

    STATE_NAMES = ("h", "c")

    def __init__(self, units, initial_state_mode="zeros", noise=None,
                 noise_std=0.1, noise_std_trainable=False,
                 noise_std_regularizer=None, noise_on_cell_state=False,
                 **kwargs):
        super().__init__(units, **kwargs)
        self.noise_on_cell_state = bool(noise_on_cell_state)
        self._init_carried_state(
            initial_state_mode, noise, noise_std, noise_std_trainable,
            noise_std_regularizer,
            noisy_state_names=("h", "c") if noise_on_cell_state else ("h",))

    def get_config(self):
        return {**super().get_config(), **self.carried_state_config(),
                "noise_on_cell_state": self.noise_on_cell_state}
