"""The model: for long sequences a learned downsampling front-end
(`noisy_rnn.pipeline.trainer.front_end`), stacked recurrent layers from
`noisy_rnn.layers`, an optional masked convolutional branch beside them,
and a dense head.

The model takes ``{"values": [batch, steps, channels], "mask": [batch,
steps]}`` (the z-scored channels from Transform, padded, and which steps
exist) and returns class logits or the scaled regression target.
"""

import tensorflow as tf
import tf_keras

from noisy_rnn import layers
from noisy_rnn.pipeline.config import ModelConfig
from noisy_rnn.pipeline.trainer.front_end import MaskedDownsampling


def recurrent_layer(config: ModelConfig, return_sequences):
    """One recurrent layer of ``config``'s kind, from `layers/`."""
    layer_class = (layers.NoisyStateGRU if config.cell == "gru"
                   else layers.NoisyStateLSTM)
    noise = None if config.noise == "none" else config.noise
    return layer_class(
        config.units, initial_state_mode=config.initial_state, noise=noise,
        noise_std=config.noise_std,
        noise_std_trainable=bool(noise) and config.noise_std_trainable,
        return_sequences=return_sequences)


class MaskedConvFeatures(tf_keras.layers.Layer):
    """The convolutional branch: two ``same``-padded Conv1D (kernels 5 and
    3, ReLU), padded steps zeroed after each, then the mean over the real
    steps: ``[batch, filters]``. Outputs do not depend on how far a batch
    is padded."""

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.convolutions = [
            tf_keras.layers.Conv1D(filters, size, padding="same",
                                   activation="relu") for size in (5, 3)]

    # Plain TF ops: AutoGraph would only spend ~3.5 s transpiling Conv1D's
    # call chain when the model is built. (Keras passes ``training`` to a
    # wrapped call, so it is accepted; dropout-free, it changes nothing.)
    @tf.autograph.experimental.do_not_convert
    def call(self, values, mask, training=None):
        del training
        present = tf.cast(mask, values.dtype)[..., None]
        hidden = values * present
        for convolution in self.convolutions:
            hidden = convolution(hidden) * present
        steps = tf.maximum(tf.reduce_sum(present, axis=1), 1.0)
        return tf.reduce_sum(hidden, axis=1) / steps

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


def build_model(config: ModelConfig, num_channels, num_outputs,
                make_recurrent=recurrent_layer, downsample=None):
    """Stacked recurrent layers (and, with ``conv_filters``, a
    `MaskedConvFeatures` branch beside them) and a dense head; with a
    ``downsample`` factor >= 2 (default ``config.downsample``; 0 there means
    the Trainer chooses it from the data), a `MaskedDownsampling` front-end
    (``config.units`` filters) feeds both.

    ``num_outputs`` is the number of classes (the head outputs logits) or 1
    for regression (the scaled target). ``make_recurrent(config,
    return_sequences)`` makes each recurrent layer (benchmarks pass stock
    layers).
    """
    values = tf_keras.Input((None, num_channels), name="values")
    mask = tf_keras.Input((None,), dtype=tf.bool, name="mask")
    factor = config.downsample if downsample is None else downsample
    sequence, sequence_mask = values, mask
    if factor and factor > 1:
        sequence, sequence_mask = MaskedDownsampling(
            config.units, factor, name="downsampling")(values, mask)
    hidden = sequence
    for index in range(config.layers):
        hidden = make_recurrent(config, index < config.layers - 1)(
            hidden, mask=sequence_mask)
    if config.conv_filters:
        hidden = tf_keras.layers.Concatenate()([
            hidden, MaskedConvFeatures(config.conv_filters, name="conv")(
                sequence, sequence_mask)])
    outputs = tf_keras.layers.Dense(num_outputs, name="head")(hidden)
    return tf_keras.Model({"values": values, "mask": mask}, outputs)

