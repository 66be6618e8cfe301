"""The seed recipe's layer names, as presets of the configurable layers.

Same meaning as the widely copied recipe, made correct: noise reaches the
carried state, is off at inference, the std stays positive through a softplus
(not ``abs``), and everything runs in graph mode without a Python time loop.
Each preset only sets defaults; every `NoisyStateGRU` / `NoisyStateLSTM` and
stock Keras GRU / LSTM keyword argument is accepted.

| preset                                     | initial state | noise std       |
|--------------------------------------------|---------------|-----------------|
| ``TrainableInitialStateGRU`` / ``LSTM``    | trainable     | none            |
| ``NoisyGRU`` / ``NoisyLSTM``               | zeros         | additive, trained from ``noise_std_init`` |
| ``TrainableInitialStateAndConstantNoiseGRU`` / ``LSTM`` | trainable | additive, fixed ``noise_std`` |
"""

import tf_keras

from noisy_rnn.layer_arguments import (noisy_defaults,
                                       trainable_initial_state_defaults)
from noisy_rnn.layers.recurrent import NoisyStateGRU, NoisyStateLSTM

_register = tf_keras.saving.register_keras_serializable(package="noisy_rnn")


@_register
class TrainableInitialStateGRU(NoisyStateGRU):
    """GRU whose initial state is a trained vector (tiled over the batch).

    Args:
      units: positive integer.
      **kwargs: any `NoisyStateGRU` / `tf_keras.layers.GRU` argument.

    Call arguments: as `NoisyStateGRU`.

    Example:

    >>> TrainableInitialStateGRU(8)(tf.zeros((2, 5, 3))).shape
    TensorShape([2, 8])
    """

    def __init__(self, units, **kwargs):
        super().__init__(units, **trainable_initial_state_defaults(kwargs))


@_register
class NoisyGRU(NoisyStateGRU):
    """GRU with additive Gaussian noise of trainable std on its carried state
    (training only).

    Args:
      units: positive integer.
      noise_std_init: positive float, the std before training.
      **kwargs: any `NoisyStateGRU` / `tf_keras.layers.GRU` argument, e.g.
        ``noise_std_regularizer=StdPriorRegularizer(...)``.

    Call arguments: as `NoisyStateGRU`.

    Example:

    >>> NoisyGRU(8, noise_std_init=0.1)(tf.zeros((2, 5, 3)),
    ...                                 training=True).shape
    TensorShape([2, 8])
    """

    def __init__(self, units, noise_std_init=0.1, **kwargs):
        super().__init__(units,
                         **noisy_defaults(kwargs, noise_std_init, True))


@_register
class TrainableInitialStateAndConstantNoiseGRU(NoisyStateGRU):
    """GRU with a trained initial state and additive Gaussian noise of fixed
    std on its carried state (training only).

    Args:
      units: positive integer.
      noise_std: float >= 0, the fixed std.
      **kwargs: any `NoisyStateGRU` / `tf_keras.layers.GRU` argument.

    Call arguments: as `NoisyStateGRU`.

    Example:

    >>> TrainableInitialStateAndConstantNoiseGRU(8, noise_std=0.2)(
    ...     tf.zeros((2, 5, 3))).shape
    TensorShape([2, 8])
    """

    def __init__(self, units, noise_std=0.1, **kwargs):
        super().__init__(units, **noisy_defaults(
            trainable_initial_state_defaults(kwargs), noise_std, False))


@_register
class TrainableInitialStateLSTM(NoisyStateLSTM):
    """LSTM whose initial ``h`` and ``c`` are trained vectors.

    Args:
      units: positive integer.
      **kwargs: any `NoisyStateLSTM` / `tf_keras.layers.LSTM` argument.

    Call arguments: as `NoisyStateLSTM`.

    Example:

    >>> TrainableInitialStateLSTM(8)(tf.zeros((2, 5, 3))).shape
    TensorShape([2, 8])
    """

    def __init__(self, units, **kwargs):
        super().__init__(units, **trainable_initial_state_defaults(kwargs))


@_register
class NoisyLSTM(NoisyStateLSTM):
    """LSTM with additive Gaussian noise of trainable std on its carried
    ``h`` (and ``c`` with ``noise_on_cell_state=True``), training only.

    Args:
      units: positive integer.
      noise_std_init: positive float, the std before training.
      **kwargs: any `NoisyStateLSTM` / `tf_keras.layers.LSTM` argument.

    Call arguments: as `NoisyStateLSTM`.

    Example:

    >>> NoisyLSTM(8)(tf.zeros((2, 5, 3)), training=True).shape
    TensorShape([2, 8])
    """

    def __init__(self, units, noise_std_init=0.1, **kwargs):
        super().__init__(units,
                         **noisy_defaults(kwargs, noise_std_init, True))


@_register
class TrainableInitialStateAndConstantNoiseLSTM(NoisyStateLSTM):
    """LSTM with trained initial ``h``/``c`` and additive Gaussian noise of
    fixed std on its carried state (training only).

    Args:
      units: positive integer.
      noise_std: float >= 0, the fixed std.
      **kwargs: any `NoisyStateLSTM` / `tf_keras.layers.LSTM` argument.

    Call arguments: as `NoisyStateLSTM`.

    Example:

    >>> TrainableInitialStateAndConstantNoiseLSTM(8)(tf.zeros((2, 5, 3))).shape
    TensorShape([2, 8])
    """

    def __init__(self, units, noise_std=0.1, **kwargs):
        super().__init__(units, **noisy_defaults(
            trainable_initial_state_defaults(kwargs), noise_std, False))
