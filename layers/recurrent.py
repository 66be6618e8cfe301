"""GRU and LSTM layers with a trainable initial state and carried-state noise.

`NoisyStateGRU` and `NoisyStateLSTM` are the stock `tf_keras` GRU / LSTM
layers with their cell replaced by `NoisyStateGRUCell` / `NoisyStateLSTMCell`.
That keeps every stock behaviour (arguments, masking, ragged inputs,
``Bidirectional``, stacking, stateful) and two execution paths:

* **inference**, and training without noise: the stock layer's fused kernel
  (cuDNN-eligible on GPU), fed the trainable initial state when there is one.
  A served noisy model therefore costs what a plain one costs and contains no
  random op.
* **noisy training**: the stock per-step cell loop (`backend.rnn`), with the
  noise of all steps drawn in one op before the loop and applied to the new
  state at each step. Dropout and recurrent dropout work as in the stock
  layer.
"""

import inspect

import tensorflow as tf
import tf_keras
from tf_keras.src import \
    backend  # rnn loop and ragged helpers of the stock layers

from noisy_rnn.layer_arguments import (check_sequence_input,
                                       validate_layer_args)
from noisy_rnn.layers.cells import NoisyStateGRUCell, NoisyStateLSTMCell


def _cell_arguments(cell):
    """The constructor arguments of a stock ``GRUCell`` / ``LSTMCell``, read
    back from the cell: every named parameter of its ``__init__`` is an
    attribute holding what was passed (after ``initializers.get`` & co.,
    which return objects unchanged)."""
    names = [name for name, parameter in inspect.signature(
        type(cell).__init__).parameters.items()
        if name != "self" and parameter.kind not in (
            parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL)]
    return {**{name: getattr(cell, name) for name in names},
            "implementation": cell.implementation,
            "enable_caching_device": cell._enable_caching_device,  # pylint: disable=protected-access
            "dtype": cell.dtype_policy, "trainable": cell.trainable,
            "name": cell.name}


class _NoisyStateLayerMixin:
    """Shared by both layers: the cell swap, input checks, config, and the
    noisy training loop. ``CELL_CLASS`` names the cell to install."""

    CELL_CLASS = None

    def _install_cell(self, **carried_state_args):
        """Replaces the stock cell by a `CELL_CLASS` with the same settings,
        passed as the objects the stock cell holds: the user's own
        initializers, regularizers, constraints and activations (a lambda
        or a class without ``get_config`` included), not a config copy."""
        self.cell = self.CELL_CLASS(**_cell_arguments(self.cell),
                                    **carried_state_args)

    def __call__(self, inputs, *args, **kwargs):
        self._check_inputs(inputs)
        return super().__call__(inputs, *args, **kwargs)

    def _check_inputs(self, inputs):
        """ValueError naming this layer when inputs are not float, rank 3.

        Anything with a shape and a dtype is checked (tensors, ragged and
        Keras tensors, NumPy arrays); anything else (e.g. a Python list) is
        left to the stock layer, so it fails or passes as the stock one does.
        """
        sequence = tf.nest.flatten(inputs)[0]
        if not hasattr(sequence, "shape") or not hasattr(sequence, "dtype"):
            return
        shape = tf.TensorShape(sequence.shape)
        dtype = tf.as_dtype(sequence.dtype)
        check_sequence_input(f"{type(self).__name__} '{self.name}'",
                             None if shape.rank is None else tuple(shape),
                             dtype.name, dtype.is_floating)

    # Plain graph code (as the stock layers' call is): AutoGraph conversion of
    # it and of the stock call chain below only costs seconds of tracing each
    # time a model, train step or signature is built.
    @tf.autograph.experimental.do_not_convert
    def call(self, inputs, mask=None, training=None, initial_state=None):
        def stock_call():
            return super(_NoisyStateLayerMixin, self).call(
                inputs, mask=mask, training=training,
                initial_state=initial_state)

        if self.cell.carried_state_noise is None:
            return stock_call()
        return tf.__internal__.smart_cond.smart_cond(
            training if training is not None else False,
            lambda: self._noisy_training_call(inputs, mask, initial_state),
            stock_call)

    def _noisy_training_call(self, inputs, mask, initial_state):
        """The training pass with noise on the carried state.

        Mirrors the stock layers' per-step cell loop, except that the noise
        of all steps is drawn in one op before the loop and fed to it as a
        second input sequence (measured faster than a random op per step).
        """
        inputs, row_lengths = backend.convert_inputs_if_ragged(inputs)
        is_ragged_input = row_lengths is not None
        self._validate_args_if_ragged(is_ragged_input, mask)
        inputs, initial_state, _ = self._process_inputs(
            inputs, initial_state, None)
        if isinstance(mask, list):
            mask = mask[0]

        cell = self.cell
        noise_shape = tf.concat([tf.shape(inputs)[:2], [cell.units]], 0)
        perturbations = [
            cell.carried_state_noise.perturbation(noise_shape, inputs.dtype)
            for noisy in cell.noisy_state_flags if noisy]
        perturber = cell.carried_state_noise.perturber(inputs.dtype)
        self._maybe_reset_cell_dropout_mask(cell)

        def step(step_inputs, states):
            inputs_t, *perturbations_t = step_inputs
            _, new_states = cell.noise_free_call(inputs_t, states,
                                                 training=True)
            new_states = cell.perturb_states(tf.nest.flatten(new_states),
                                             perturbations_t, perturber)
            return new_states[0], new_states

        timesteps = backend.int_shape(inputs)[0 if self.time_major else 1]
        last_output, outputs, states = backend.rnn(
            step, (inputs, *perturbations), initial_state, constants=None,
            go_backwards=self.go_backwards, mask=mask, unroll=self.unroll,
            input_length=row_lengths if is_ragged_input else timesteps,
            time_major=self.time_major,
            zero_output_for_mask=self.zero_output_for_mask,
            return_all_outputs=self.return_sequences)

        if self.stateful:
            self.add_update([
                tf.compat.v1.assign(kept, tf.cast(new, kept.dtype))
                for kept, new in zip(self.states, states)])
        if self.return_sequences:
            output = backend.maybe_convert_to_ragged(
                is_ragged_input, outputs, row_lengths,
                go_backwards=self.go_backwards)
        else:
            output = last_output
        return [output] + list(states) if self.return_state else output

    @property
    def initial_state_mode(self):
        return self.cell.initial_state_mode

    @property
    def carried_state_noise(self):
        return self.cell.carried_state_noise

    def get_config(self):
        return {**super().get_config(), **self.cell.carried_state_config()}


@tf_keras.saving.register_keras_serializable(package="noisy_rnn")
class NoisyStateGRU(_NoisyStateLayerMixin, tf_keras.layers.GRU):
    """GRU layer with a trainable initial state and noise on the carried
    state in training.

    At inference (``training`` false or unset) it runs the stock fused GRU on
    the same weights: outputs are deterministic and the graph holds no random
    op. In training with ``noise`` set, every step's new state ``h_t`` is
    perturbed before it is output and carried to step ``t+1``; masked steps
    keep their previous state and get no noise.

    Args:
      units: positive integer, dimensionality of the output space.
      initial_state_mode: ``"zeros"`` or ``"trainable"`` (one trained vector,
        tiled over the batch; an ``initial_state`` passed at call time wins).
      noise: None, ``"additive"`` (``h + std*eps``) or ``"multiplicative"``
        (``h * (1 + std*eps)``).
      noise_std: float >= 0, the (initial) noise std.
      noise_std_trainable: train the std (``softplus(raw_std)``); left alone,
        the task loss drives it towards 0 — see `StdPriorRegularizer`.
      noise_std_regularizer: optional regularizer of the raw std.
      **kwargs: every `tf_keras.layers.GRU` argument (``return_sequences``,
        ``return_state``, ``go_backwards``, ``dropout``, ``reset_after``, ...).

    Call arguments:
      inputs: float tensor ``[batch, time, features]``; time may be unknown.
      mask: optional boolean tensor ``[batch, time]``.
      training: Python bool or boolean tensor; noise only when true.
      initial_state: optional list with one tensor ``[batch, units]``.

    Example:

    >>> layer = NoisyStateGRU(16, initial_state_mode="trainable",
    ...                       noise="additive", noise_std=0.1)
    >>> x = tf.random.normal((4, 10, 3))
    >>> bool(tf.reduce_all(layer(x) == layer(x)))  # inference: no noise
    True
    """

    CELL_CLASS = NoisyStateGRUCell

    def __init__(self, units, initial_state_mode="zeros", noise=None,
                 noise_std=0.1, noise_std_trainable=False,
                 noise_std_regularizer=None, **kwargs):
        validate_layer_args(
            type(self), kwargs, units, initial_state_mode=initial_state_mode,
            noise=noise, noise_std=noise_std,
            noise_std_trainable=noise_std_trainable)
        super().__init__(units, **kwargs)
        self._install_cell(
            initial_state_mode=initial_state_mode, noise=noise,
            noise_std=noise_std, noise_std_trainable=noise_std_trainable,
            noise_std_regularizer=noise_std_regularizer)


@tf_keras.saving.register_keras_serializable(package="noisy_rnn")
class NoisyStateLSTM(_NoisyStateLayerMixin, tf_keras.layers.LSTM):
    """LSTM layer with a trainable initial state and noise on the carried
    state in training.

    At inference it runs the stock fused LSTM on the same weights. In
    training with ``noise`` set, every step's new ``h_t`` (and, with
    ``noise_on_cell_state``, ``c_t``) is perturbed before it is carried to
    step ``t+1``; masked steps keep their state and get no noise.

    Args:
      units: positive integer, dimensionality of the output space.
      initial_state_mode: ``"zeros"`` or ``"trainable"`` (trained ``h`` and
        ``c`` vectors, tiled over the batch; an ``initial_state`` passed at
        call time wins).
      noise: None, ``"additive"`` or ``"multiplicative"``.
      noise_std: float >= 0, the (initial) noise std.
      noise_std_trainable: train the std (``softplus(raw_std)``).
      noise_std_regularizer: optional regularizer of the raw std.
      noise_on_cell_state: also perturb the carried cell state ``c``.
      **kwargs: every `tf_keras.layers.LSTM` argument.

    Call arguments:
      inputs: float tensor ``[batch, time, features]``; time may be unknown.
      mask: optional boolean tensor ``[batch, time]``.
      training: Python bool or boolean tensor; noise only when true.
      initial_state: optional list ``[h, c]``, each ``[batch, units]``.

    Example:

    >>> layer = NoisyStateLSTM(16, noise="multiplicative", noise_std=0.1,
    ...                        noise_on_cell_state=True, return_sequences=True)
    >>> layer(tf.zeros((4, 10, 3)), training=True).shape
    TensorShape([4, 10, 16])
    """

    CELL_CLASS = NoisyStateLSTMCell

    def __init__(self, units, initial_state_mode="zeros", noise=None,
                 noise_std=0.1, noise_std_trainable=False,
                 noise_std_regularizer=None, noise_on_cell_state=False,
                 **kwargs):
        validate_layer_args(
            type(self), kwargs, units, initial_state_mode=initial_state_mode,
            noise=noise, noise_std=noise_std,
            noise_std_trainable=noise_std_trainable)
        super().__init__(units, **kwargs)
        self._install_cell(
            initial_state_mode=initial_state_mode, noise=noise,
            noise_std=noise_std, noise_std_trainable=noise_std_trainable,
            noise_std_regularizer=noise_std_regularizer,
            noise_on_cell_state=noise_on_cell_state)

    def get_config(self):
        return {**super().get_config(),
                "noise_on_cell_state": self.cell.noise_on_cell_state}
