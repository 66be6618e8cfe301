"""A learned, masking-aware temporal downsampling in front of the recurrent
stack, and the data-aware choice of its factor.

A GRU stepping through 1,000+ raw samples learns little in a few hundred
steps and costs minutes per run; a strided convolution first turns every
``factor`` steps into one, so the recurrent layers run on a sequence of a
few dozen to a couple of hundred steps.

Padded steps never leak in: values are zeroed where the mask is False, each
output step reads one window that starts at a real step (windows past the
end see zeros, exactly as the same sequence unpadded would), and the output
mask marks the windows that start at a real step. A padded sequence and its
unpadded twin therefore give the same outputs on their real steps.
"""

import math

import numpy as np
import tensorflow as tf
import tf_keras

# The sequence length the recurrent stack should see: a factor is chosen
# so that most sequences (the 90th percentile of lengths) come down to it.
TARGET_STEPS = 100
LENGTH_QUANTILE = 90


def choose_downsampling(lengths, target_steps=TARGET_STEPS):
    """The factor for sequences of these ``lengths`` (steps per example):
    1 (none) when the ``LENGTH_QUANTILE``-th percentile is within
    ``target_steps``, else the factor bringing it nearest to the target.
    ValueError on no lengths."""
    lengths = np.asarray(lengths)
    if not lengths.size:
        raise ValueError("no training examples to choose the downsampling "
                         "factor from")
    typical = float(np.percentile(lengths, LENGTH_QUANTILE))
    if typical <= target_steps:
        return 1
    return max(1, round(typical / target_steps))


def downsampled_length(length, factor):
    """Steps left of a sequence of ``length`` steps: ``ceil(length /
    factor)`` (never 0 for a non-empty sequence)."""
    return math.ceil(length / factor)


@tf_keras.saving.register_keras_serializable(package="noisy_rnn")
class MaskedDownsampling(tf_keras.layers.Layer):
    """``factor`` steps -> one: a Conv1D with kernel ``2 * factor`` and
    stride ``factor`` (ReLU) over the masked values, then the new mask.

    Call with ``(values [batch, steps, channels], mask [batch, steps])``;
    returns ``(hidden [batch, ceil(steps / factor), filters], mask)``.
    """

    def __init__(self, filters, factor, **kwargs):
        super().__init__(**kwargs)
        if factor < 2:
            raise ValueError(f"MaskedDownsampling: factor must be >= 2, got "
                             f"{factor} (1 means no front-end)")
        self.filters, self.factor = filters, factor
        self.convolution = tf_keras.layers.Conv1D(
            filters, 2 * factor, strides=factor, padding="valid",
            activation="relu")

    # Plain TF ops: no AutoGraph conversion of Conv1D's call chain.
    @tf.autograph.experimental.do_not_convert
    def call(self, values, mask, training=None):
        del training
        factor = self.factor
        present = tf.cast(mask, values.dtype)[..., None]
        steps = tf.shape(values)[1]
        windows = (steps + factor - 1) // factor
        # Right-pad so the last window (starting at a real step) is whole.
        padding = windows * factor + factor - steps
        hidden = tf.pad(values * present, [[0, 0], [0, padding], [0, 0]])
        hidden = self.convolution(hidden)
        # A window exists where its first step does.
        starts = tf.pad(mask, [[0, 0], [0, windows * factor - steps]])
        new_mask = tf.reshape(starts, [-1, windows, factor])[:, :, 0]
        hidden = hidden * tf.cast(new_mask, hidden.dtype)[..., None]
        return hidden, new_mask

    def compute_mask(self, inputs, mask=None):
        return None  # the new mask is returned as an output

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "factor": self.factor}
