"""Keras 3 GRU and LSTM layers with a trainable initial state and noise on
the carried state, on any Keras 3 backend (TensorFlow, JAX).

`NoisyStateGRU` and `NoisyStateLSTM` are the stock `keras.layers.GRU` /
`LSTM` with their stock cell, plus:

* ``initial_state_mode="trainable"``: one trained vector per state (GRU:
  ``h``; LSTM: ``h`` and ``c``), broadcast over the batch by
  `get_initial_state`, which the stock layer asks when no ``initial_state``
  is passed.
* ``noise``: Gaussian noise on the state carried to the next step (and, as
  that state, on the output), in training only.

Two execution paths, as in the tf_keras layers:

* **inference**, and training without noise: the stock layer's own loop
  (`GRU.inner_loop`: cuDNN where the backend offers it, else the backend's
  RNN loop), so a served model costs what a stock one costs and holds no
  random op.
* **noisy training**: the noise of every step is drawn in one op before the
  loop (a JAX scan cannot draw from a stateful seed inside its body) and
  applied to each step's new state, in the stock layers' own loop; masked
  steps keep their state and output, as in the stock layer.
"""

import math

import keras
from keras import ops
from keras.src.backend import rnn as rnn_loop  # the stock RNN layers' loop

from noisy_rnn.layer_arguments import (check_sequence_input, inverse_softplus,
                                       validate_layer_args,
                                       validate_std_prior_args)

_register = keras.saving.register_keras_serializable(package="noisy_rnn")


def unit_normals(shape, dtype, seed):
    """N(0, 1) samples of ``shape`` (a static tuple of ints or scalars).

    On the TensorFlow backend, by the Box-Muller transform of
    `keras.random.uniform` draws (exact, as `noisy_rnn.layers.noise`): a
    ``[64, 100, 64]`` draw measured 1.4 ms against `keras.random.normal`'s
    2.6 ms on a 2-core CPU, where TF's normal kernel is the larger part of
    what noise adds to a training step. JAX's own normal is the faster
    there (2.0 against 4.3 ms), so other backends keep it.
    """
    if keras.backend.backend() != "tensorflow":
        return keras.random.normal(shape, dtype=dtype, seed=seed)
    size = math.prod(shape) if all(isinstance(d, int) for d in shape) \
        else ops.prod(ops.stack(shape))
    pairs = (size + 1) // 2
    uniform = keras.random.uniform((2, pairs), dtype=dtype, seed=seed)
    radius = ops.sqrt(-2.0 * ops.log1p(-uniform[0]))
    angle = (2.0 * math.pi) * uniform[1]
    normals = ops.concatenate([radius * ops.cos(angle),
                               radius * ops.sin(angle)], 0)
    return ops.reshape(normals[:size], shape)


@_register
class StdPriorRegularizer(keras.regularizers.Regularizer):
    """Keeps a trainable, softplus-parametrised noise std away from 0:
    ``strength * KL(N(0, std^2) || N(0, prior_std^2))`` of the raw
    (pre-softplus) variable; 0 at ``std == prior_std``, unbounded as
    ``std -> 0``. Same as `noisy_rnn.layers.StdPriorRegularizer`.

    Args:
      prior_std: positive float, the std the penalty pulls towards.
      strength: non-negative float, the weight of the penalty in the loss.
    """

    def __init__(self, prior_std=0.1, strength=1e-2):
        validate_std_prior_args(prior_std, strength)
        self.prior_std = float(prior_std)
        self.strength = float(strength)

    def __call__(self, x):
        ratio = ops.softplus(x) / self.prior_std
        kl = 0.5 * ops.square(ratio) - ops.log(ratio) - 0.5
        return self.strength * ops.sum(kl)

    def get_config(self):
        return {"prior_std": self.prior_std, "strength": self.strength}


class _CarriedStateMixin:
    """What both layers add to the stock one. A subclass sets
    ``STATE_NAMES`` (its states, in state order) and calls
    `_init_carried_state` after the stock ``__init__``."""

    STATE_NAMES = ()

    def _init_carried_state(self, initial_state_mode, noise, noise_std,
                            noise_std_trainable, noise_std_regularizer,
                            noisy_state_names, seed):
        self.initial_state_mode = initial_state_mode
        self.noise = noise
        self.noise_std = float(noise_std)
        self.noise_std_trainable = bool(noise_std_trainable)
        self.noise_std_regularizer = keras.regularizers.get(
            noise_std_regularizer)
        # One bool per state, in state order: is it perturbed?
        self.noisy_state_flags = tuple(
            noise is not None and name in noisy_state_names
            for name in self.STATE_NAMES)
        # A backward twin (Bidirectional rebuilds one from this config)
        # draws other noise than its forward layer from the same seed.
        if seed is not None and self.go_backwards:
            seed += 1
        self.noise_seed_generator = (
            keras.random.SeedGenerator(seed, name="noise_seed")
            if noise is not None else None)
        self.initial_state_vectors = []
        self.raw_std = None

    def build(self, sequences_shape, initial_state_shape=None):
        # Before the stock build: a stateful layer's state variables start
        # from `get_initial_state`.
        units = self.cell.units
        if self.initial_state_mode == "trainable":
            self.initial_state_vectors = [
                self.add_weight(name=f"initial_state_{name}", shape=(units,),
                                initializer="zeros")
                for name in self.STATE_NAMES]
        if self.noise is not None and self.noise_std_trainable:
            self.raw_std = self.add_weight(
                name="raw_std", shape=(),
                initializer=keras.initializers.Constant(
                    inverse_softplus(self.noise_std)),
                regularizer=self.noise_std_regularizer)
        super().build(sequences_shape, initial_state_shape)

    def get_initial_state(self, batch_size):
        """Zeros, or the trained vectors broadcast to ``[batch_size,
        units]``."""
        if self.initial_state_mode == "zeros":
            return super().get_initial_state(batch_size)
        dtype = self.cell.compute_dtype
        zeros = ops.zeros((batch_size, self.cell.units), dtype=dtype)
        return [zeros + ops.cast(vector, dtype)
                for vector in self.initial_state_vectors]

    def reset_state(self):
        """A stateful layer's states back to the initial state: zeros, or
        the trained vectors (which a stateful layer only reads here: its
        states are variables carried from batch to batch, so no gradient
        reaches the vectors in stateful training)."""
        super().reset_state()
        if self.states is not None and self.initial_state_mode == "trainable":
            batch_size = ops.shape(self.states[0])[0]
            for state, value in zip(self.states,
                                    self.get_initial_state(batch_size)):
                state.assign(value)

    def current_noise_std(self):
        """The noise std as a scalar tensor (the softplus of the raw
        variable when trained)."""
        if self.raw_std is not None:
            return ops.softplus(self.raw_std)
        return ops.convert_to_tensor(self.noise_std, self.cell.compute_dtype)

    def __call__(self, sequences, *args, **kwargs):
        self._check_inputs(sequences)
        return super().__call__(sequences, *args, **kwargs)

    def _check_inputs(self, sequences):
        """ValueError naming this layer when inputs are not float, rank 3.
        Anything without a shape and a dtype (a Python list) is left to the
        stock layer."""
        if not hasattr(sequences, "shape") or not hasattr(sequences, "dtype"):
            return
        dtype = keras.backend.standardize_dtype(sequences.dtype)
        shape = sequences.shape
        check_sequence_input(f"{type(self).__name__} '{self.name}'",
                             None if shape is None else tuple(shape),
                             dtype, "float" in dtype)

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if not training or self.noise is None:
            return super().inner_loop(sequences, initial_state, mask,
                                      training=training)
        return self._noisy_loop(sequences, initial_state, mask)

    def _noisy_loop(self, sequences, initial_state, mask):
        """The stock loop's ``(last_output, outputs, states)`` with noise on
        every step's new state. It runs the stock layers' own loop
        (`keras.src.backend.rnn`, the one non-public call here: the public
        `keras.ops.scan` measured 1.7x the stock training step on the
        TensorFlow backend, this 1.2-1.4x), fed the noise as a second input
        sequence, so masking, ``go_backwards`` and ``unroll`` behave as in
        the stock layer: a masked step keeps its state, noise included."""
        cell = self.cell
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        states = list(initial_state) if isinstance(
            initial_state, (list, tuple)) else [initial_state]
        shape = ops.shape(sequences)
        std = self.current_noise_std()
        multiplicative = self.noise == "multiplicative"
        # Unit normals, no gradient; the std scales them inside each step,
        # so the std's gradient is summed step by step instead of the loop
        # carrying a gradient as large as the noise.
        normals = [ops.stop_gradient(unit_normals(
            (shape[0], shape[1], cell.units), cell.compute_dtype,
            self.noise_seed_generator))
            for noisy in self.noisy_state_flags if noisy]
        flags = self.noisy_state_flags

        def step(step_inputs, old_states):
            inputs_t, *normals_t = step_inputs
            normals_t = iter(normals_t)
            _, new_states = cell(inputs_t, old_states, training=True)
            new_states = list(new_states) if isinstance(
                new_states, (list, tuple)) else [new_states]
            new_states = [
                (state + state * (std * next(normals_t)) if multiplicative
                 else state + std * next(normals_t)) if noisy else state
                for state, noisy in zip(new_states, flags)]
            return new_states[0], new_states

        return rnn_loop(
            step, (sequences, *normals), states,
            go_backwards=self.go_backwards, mask=mask, unroll=self.unroll,
            input_length=sequences.shape[1],
            zero_output_for_mask=self.zero_output_for_mask,
            return_all_outputs=self.return_sequences)

    def carried_state_config(self):
        """The constructor arguments this mixin adds, for `get_config`."""
        return {
            "initial_state_mode": self.initial_state_mode,
            "noise": self.noise,
            "noise_std": self.noise_std,
            "noise_std_trainable": self.noise_std_trainable,
            "noise_std_regularizer": keras.regularizers.serialize(
                self.noise_std_regularizer),
        }


@_register
class NoisyStateGRU(_CarriedStateMixin, keras.layers.GRU):
    """Keras 3 GRU with a trainable initial state and noise on the carried
    state in training; same arguments and behaviour as
    `noisy_rnn.layers.NoisyStateGRU`.

    Args:
      units: positive integer, dimensionality of the output space.
      initial_state_mode: ``"zeros"`` or ``"trainable"`` (one trained
        vector, broadcast over the batch; an ``initial_state`` passed at call
        time wins).
      noise: None, ``"additive"`` (``h + std*eps``) or ``"multiplicative"``
        (``h * (1 + std*eps)``).
      noise_std: float >= 0, the (initial) noise std.
      noise_std_trainable: train the std (``softplus(raw_std)``); left
        alone, the task loss drives it towards 0 (see `StdPriorRegularizer`).
      noise_std_regularizer: optional regularizer of the raw std.
      **kwargs: every `keras.layers.GRU` argument (``return_sequences``,
        ``return_state``, ``go_backwards``, ``dropout``, ``seed``, ...);
        ``seed`` also seeds the noise.

    Example:

    >>> layer = NoisyStateGRU(16, initial_state_mode="trainable",
    ...                       noise="additive", noise_std=0.1)
    >>> tuple(layer(np.zeros((4, 10, 3), "float32"), training=True).shape)
    (4, 16)
    """

    STATE_NAMES = ("h",)

    def __init__(self, units, initial_state_mode="zeros", noise=None,
                 noise_std=0.1, noise_std_trainable=False,
                 noise_std_regularizer=None, **kwargs):
        validate_layer_args(
            type(self), kwargs, units, initial_state_mode=initial_state_mode,
            noise=noise, noise_std=noise_std,
            noise_std_trainable=noise_std_trainable)
        super().__init__(units, **kwargs)
        self._init_carried_state(
            initial_state_mode, noise, noise_std, noise_std_trainable,
            noise_std_regularizer, ("h",), kwargs.get("seed"))

    def get_config(self):
        return {**super().get_config(), **self.carried_state_config()}


@_register
class NoisyStateLSTM(_CarriedStateMixin, keras.layers.LSTM):
    """Keras 3 LSTM with a trainable initial state and noise on the carried
    state in training; same arguments and behaviour as
    `noisy_rnn.layers.NoisyStateLSTM`.

    Args:
      units: positive integer, dimensionality of ``h`` and ``c``.
      initial_state_mode: ``"zeros"`` or ``"trainable"`` (trained ``h`` and
        ``c`` vectors).
      noise: None, ``"additive"`` or ``"multiplicative"``.
      noise_std: float >= 0, the (initial) noise std.
      noise_std_trainable: train the std (``softplus(raw_std)``).
      noise_std_regularizer: optional regularizer of the raw std.
      noise_on_cell_state: also perturb the carried cell state ``c`` (``h``
        always is when ``noise`` is set); one shared std.
      **kwargs: every `keras.layers.LSTM` argument.

    Example:

    >>> tuple(NoisyStateLSTM(8, noise="multiplicative",
    ...                      noise_on_cell_state=True, return_sequences=True)(
    ...     np.zeros((2, 5, 3), "float32"), training=True).shape)
    (2, 5, 8)
    """

    STATE_NAMES = ("h", "c")

    def __init__(self, units, initial_state_mode="zeros", noise=None,
                 noise_std=0.1, noise_std_trainable=False,
                 noise_std_regularizer=None, noise_on_cell_state=False,
                 **kwargs):
        validate_layer_args(
            type(self), kwargs, units, initial_state_mode=initial_state_mode,
            noise=noise, noise_std=noise_std,
            noise_std_trainable=noise_std_trainable)
        super().__init__(units, **kwargs)
        self.noise_on_cell_state = bool(noise_on_cell_state)
        self._init_carried_state(
            initial_state_mode, noise, noise_std, noise_std_trainable,
            noise_std_regularizer,
            ("h", "c") if noise_on_cell_state else ("h",), kwargs.get("seed"))

    def get_config(self):
        return {**super().get_config(), **self.carried_state_config(),
                "noise_on_cell_state": self.noise_on_cell_state}
