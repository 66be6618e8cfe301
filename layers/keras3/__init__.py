"""Keras 3 GRU/LSTM layers with a trainable initial state and Gaussian noise
on the carried hidden state, in training only: the tf_keras layers of
`noisy_rnn.layers`, for ``import keras`` on the TensorFlow or JAX backend.

Depends on Keras 3 only (``pip install tfx-noisy-rnn[keras3]`` adds JAX);
importing it does not import TensorFlow unless Keras' backend does.
Importing it registers every class for Keras serialisation under the
package name ``noisy_rnn``.

    import keras
    from noisy_rnn.keras3 import NoisyGRU
    model = keras.Sequential([keras.Input((None, 3)), NoisyGRU(32),
                              keras.layers.Dense(1)])
"""

from noisy_rnn.keras3.presets import (
    NoisyGRU, NoisyLSTM, TrainableInitialStateAndConstantNoiseGRU,
    TrainableInitialStateAndConstantNoiseLSTM, TrainableInitialStateGRU,
    TrainableInitialStateLSTM)
from noisy_rnn.keras3.recurrent import (NoisyStateGRU, NoisyStateLSTM,
                                        StdPriorRegularizer)

__all__ = [
    "StdPriorRegularizer", "NoisyStateGRU", "NoisyStateLSTM",
    "TrainableInitialStateGRU", "NoisyGRU",
    "TrainableInitialStateAndConstantNoiseGRU",
    "TrainableInitialStateLSTM", "NoisyLSTM",
    "TrainableInitialStateAndConstantNoiseLSTM",
]
