"""The seed recipe's layer names for Keras 3, as presets of `NoisyStateGRU`
/ `NoisyStateLSTM`: the same names, defaults and arguments as the tf_keras
presets in `noisy_rnn.layers.presets` (see the table there).
"""

import keras

from noisy_rnn.keras3.recurrent import NoisyStateGRU, NoisyStateLSTM
from noisy_rnn.layer_arguments import (noisy_defaults,
                                       trainable_initial_state_defaults)

_register = keras.saving.register_keras_serializable(package="noisy_rnn")


@_register
class TrainableInitialStateGRU(NoisyStateGRU):
    """GRU whose initial state is a trained vector."""

    def __init__(self, units, **kwargs):
        super().__init__(units, **trainable_initial_state_defaults(kwargs))


@_register
class NoisyGRU(NoisyStateGRU):
    """GRU with additive noise of trained std (from ``noise_std_init``) on
    its carried state, in training only."""

    def __init__(self, units, noise_std_init=0.1, **kwargs):
        super().__init__(units,
                         **noisy_defaults(kwargs, noise_std_init, True))


@_register
class TrainableInitialStateAndConstantNoiseGRU(NoisyStateGRU):
    """GRU with a trained initial state and additive noise of fixed
    ``noise_std`` on its carried state, in training only."""

    def __init__(self, units, noise_std=0.1, **kwargs):
        super().__init__(units, **noisy_defaults(
            trainable_initial_state_defaults(kwargs), noise_std, False))


@_register
class TrainableInitialStateLSTM(NoisyStateLSTM):
    """LSTM whose initial ``h`` and ``c`` are trained vectors."""

    def __init__(self, units, **kwargs):
        super().__init__(units, **trainable_initial_state_defaults(kwargs))


@_register
class NoisyLSTM(NoisyStateLSTM):
    """LSTM with additive noise of trained std on its carried ``h`` (and
    ``c`` with ``noise_on_cell_state=True``), in training only."""

    def __init__(self, units, noise_std_init=0.1, **kwargs):
        super().__init__(units,
                         **noisy_defaults(kwargs, noise_std_init, True))


@_register
class TrainableInitialStateAndConstantNoiseLSTM(NoisyStateLSTM):
    """LSTM with trained initial ``h``/``c`` and additive noise of fixed
    ``noise_std`` on its carried state, in training only."""

    def __init__(self, units, noise_std=0.1, **kwargs):
        super().__init__(units, **noisy_defaults(
            trainable_initial_state_defaults(kwargs), noise_std, False))
