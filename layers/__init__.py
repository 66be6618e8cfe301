"""Keras (tf_keras) GRU/LSTM layers with a trainable initial state and
Gaussian noise on the carried hidden state, in training only.

Depends on TensorFlow and tf_keras only. Importing this package registers
every class for Keras serialisation under the package name ``noisy_rnn``.
"""

from noisy_rnn.layers.cells import NoisyStateGRUCell, NoisyStateLSTMCell
from noisy_rnn.layers.noise import CarriedStateNoise, StdPriorRegularizer
from noisy_rnn.layers.presets import (
    NoisyGRU, NoisyLSTM, TrainableInitialStateAndConstantNoiseGRU,
    TrainableInitialStateAndConstantNoiseLSTM, TrainableInitialStateGRU,
    TrainableInitialStateLSTM)
from noisy_rnn.layers.recurrent import NoisyStateGRU, NoisyStateLSTM

__all__ = [
    "CarriedStateNoise", "StdPriorRegularizer",
    "NoisyStateGRUCell", "NoisyStateLSTMCell",
    "NoisyStateGRU", "NoisyStateLSTM",
    "TrainableInitialStateGRU", "NoisyGRU",
    "TrainableInitialStateAndConstantNoiseGRU",
    "TrainableInitialStateLSTM", "NoisyLSTM",
    "TrainableInitialStateAndConstantNoiseLSTM",
]
