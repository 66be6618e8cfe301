"""The model: for long sequences a learned downsampling front-end
(`noisy_rnn.pipeline.trainer.front_end`), stacked recurrent layers from
`noisy_rnn.layers`, an optional masked convolutional branch beside them,
a dense head, and beside it all a fixed linear path fitted in closed form
(`noisy_rnn.pipeline.trainer.linear_paths`), mixed with the head by a
learned weight.

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


@tf_keras.saving.register_keras_serializable(package="noisy_rnn")
class LeadingChannels(tf_keras.layers.Layer):
    """The first ``count`` channels of ``[batch, steps, channels]``: what
    the trained branches read when the last channels are the linear
    path's alone."""

    def __init__(self, count, **kwargs):
        super().__init__(**kwargs)
        self.count = int(count)

    def call(self, values):
        return values[..., :self.count]

    def get_config(self):
        return {**super().get_config(), "count": self.count}


LINEAR_OFFSET = "linear_offset"  # the layer's name in `build_model`


@tf_keras.saving.register_keras_serializable(package="noisy_rnn")
class LinearOffset(tf_keras.layers.Layer):
    """``scale * offset + branch_scale * branch``: the fixed linear path's
    output (`noisy_rnn.pipeline.trainer.linear_paths`) and the trained
    branches' output, each weighted by a trainable scalar, starting at
    ``initial_scale`` and ``initial_branch_scale``."""

    def __init__(self, initial_scale=1.0, initial_branch_scale=1.0,
                 **kwargs):
        super().__init__(**kwargs)
        self.initial_scale = float(initial_scale)
        self.initial_branch_scale = float(initial_branch_scale)
        self.scale = self.add_weight(
            "scale", (), initializer=tf_keras.initializers.Constant(
                self.initial_scale))
        self.branch_scale = self.add_weight(
            "branch_scale", (), initializer=tf_keras.initializers.Constant(
                self.initial_branch_scale))

    def call(self, offset, branch):
        return self.scale * offset + self.branch_scale * branch

    def keep_branch_alone(self):
        """Drops the linear path: the output becomes the branches' own."""
        self.scale.assign(0.0)
        self.branch_scale.assign(1.0)

    def get_config(self):
        return {**super().get_config(), "initial_scale": self.initial_scale,
                "initial_branch_scale": self.initial_branch_scale}


def build_model(config: ModelConfig, num_channels, num_outputs,
                make_recurrent=recurrent_layer, downsample=None,
                linear_path=None, path_channels=0):
    """Stacked recurrent layers (and, with ``conv_filters``, a
    `MaskedConvFeatures` branch beside them) and a dense head; with a
    ``downsample`` factor >= 2 (default ``config.downsample``; 0 there means
    the Trainer chooses it from the data), a `MaskedDownsampling` front-end
    (``config.units`` filters) feeds both.

    ``num_outputs`` is the number of classes (the head outputs logits) or 1
    for regression (the scaled target). ``make_recurrent(config,
    return_sequences)`` makes each recurrent layer (benchmarks pass stock
    layers).

    ``linear_path``: a fitted `linear_paths.FittedPath` (or None). Then the
    model's output is ``LinearOffset(path(values, mask), head(...))`` and
    the returned model has a ``trained_part`` attribute: the same network
    taking the path's output as a third input ``offset`` (what training
    calls, with the path's outputs computed once per example), returning
    the combined output and the head's own. Training starts from the path
    alone (the branches' weight starts at zero) and fits both outputs to
    the labels: the branches learn the task on their own however good the
    path is, weigh in as far as that helps the sum (a learned forecast or
    score combination), and early stopping may keep them alone (see
    `noisy_rnn.pipeline.trainer.training.train`).
    ``config.layers`` may be 0 then (the path alone, plus a trained scale
    and any conv branch).

    ``path_channels``: the last channels of ``values`` that only the linear
    path reads (`signatures.path_only_channels`: the level of a
    ``forecast_change`` channel, which a network would have to extrapolate
    beyond the training range, and a linear AR extrapolates by design).
    """
    values = tf_keras.Input((None, num_channels), name="values")
    mask = tf_keras.Input((None,), dtype=tf.bool, name="mask")
    factor = config.downsample if downsample is None else downsample
    sequence, sequence_mask = values, mask
    if path_channels:
        sequence = LeadingChannels(num_channels - path_channels,
                                   name="branch_channels")(values)
    if factor and factor > 1 and config.layers:
        sequence, sequence_mask = MaskedDownsampling(
            config.units, factor, name="downsampling")(sequence, mask)
    branches = []
    hidden = sequence
    for index in range(config.layers):
        hidden = make_recurrent(config, index < config.layers - 1)(
            hidden, mask=sequence_mask)
    if config.layers:
        branches.append(hidden)
    if config.conv_filters:
        branches.append(MaskedConvFeatures(config.conv_filters, name="conv")(
            sequence, sequence_mask))
    if not branches and linear_path is None:
        raise ValueError("model: --layers 0 and --conv-filters 0 leave "
                         "nothing to learn from (and no linear path)")
    head = tf_keras.layers.Dense(num_outputs, name="head")
    outputs = None
    if branches:
        outputs = head(branches[0] if len(branches) == 1 else
                       tf_keras.layers.Concatenate()(branches))
    inputs = {"values": values, "mask": mask}
    if linear_path is None:
        return tf_keras.Model(inputs, outputs)
    offset = tf_keras.Input((num_outputs,), name="offset")
    combined = LinearOffset(linear_path.scale, 0.0, name=LINEAR_OFFSET)(
        offset, outputs if branches else tf.zeros_like(offset))
    trained_part = tf_keras.Model(
        {**inputs, "offset": offset},
        [combined, outputs] if branches else combined, name="trained_part")
    full_values = tf_keras.Input((None, num_channels), name="values")
    full_mask = tf_keras.Input((None,), dtype=tf.bool, name="mask")
    full_outputs = trained_part({
        "values": full_values, "mask": full_mask,
        "offset": linear_path.layer(full_values, full_mask)})
    if isinstance(full_outputs, (list, tuple)):
        full_outputs = full_outputs[0]
    model = tf_keras.Model({"values": full_values, "mask": full_mask},
                           full_outputs)
    model.trained_part = trained_part
    return model
