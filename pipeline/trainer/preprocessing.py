"""Transform's ``preprocessing_fn``: per-channel z-score, label encoding.

Runs once over the training split (analysis) and is then part of the serving
graph, so training and serving see exactly the same scaling.
"""

import tensorflow as tf
import tensorflow_transform as tft

from noisy_rnn.schemas import contracts


def _dense_scalar(tensor):
    """A ``[batch]`` tensor from a dense ``[batch, 1]`` or sparse feature."""
    if isinstance(tensor, tf.SparseTensor):
        default = "" if tensor.dtype == tf.string else 0
        tensor = tf.sparse.to_dense(tensor, default_value=default)
    return tf.reshape(tensor[:, :1], [-1])


def _values(tensor):
    """The values of a dense ``[batch, steps]`` or sparse channel, flat."""
    if isinstance(tensor, tf.SparseTensor):
        return tensor.values
    return tf.reshape(tensor, [-1])


def _with_values(tensor, values):
    """``tensor`` with its values replaced (same layout)."""
    if isinstance(tensor, tf.SparseTensor):
        return tf.SparseTensor(tensor.indices, values, tensor.dense_shape)
    return tf.reshape(values, tf.shape(tensor))


def last_values(tensor):
    """Each example's last value of a ``[batch, steps]`` dense or sparse
    channel: ``[batch]``."""
    if isinstance(tensor, tf.SparseTensor):
        steps = tf.math.bincount(tf.cast(tensor.indices[:, 0], tf.int32),
                                 minlength=tf.cast(tensor.dense_shape[0],
                                                   tf.int32))
        tensor = tf.sparse.to_dense(tensor)
    else:
        steps = tf.fill([tf.shape(tensor)[0]], tf.shape(tensor)[1])
    return tf.gather(tensor, tf.maximum(steps - 1, 0), batch_dims=1)


def _anchored(tensor, anchor):
    """``tensor`` minus its example's ``anchor`` at every step."""
    if isinstance(tensor, tf.SparseTensor):
        return tf.SparseTensor(
            tensor.indices,
            tensor.values - tf.gather(anchor, tensor.indices[:, 0]),
            tensor.dense_shape)
    return tensor - anchor[:, None]


def _level(tensor, anchor):
    """``anchor`` (one value per example) at every step of ``tensor``'s
    layout: the anchored channel's level as a channel of its own."""
    if isinstance(tensor, tf.SparseTensor):
        return tf.SparseTensor(tensor.indices,
                               tf.gather(anchor, tensor.indices[:, 0]),
                               tensor.dense_shape)
    return tf.broadcast_to(anchor[:, None], tf.shape(tensor))


def _z_scored_channels(inputs, features):
    """Z-scores every channel with one mean and one variance analyzer over
    the stacked channels (all channels of an example share their steps), not
    two analyzers per channel: far fewer Beam stages and graph traces."""
    stacked = tf.stack([_values(inputs[f]) for f in features], axis=-1)
    mean = tft.mean(stacked, reduce_instance_dims=False)
    var = tft.var(stacked, reduce_instance_dims=False)
    std = tf.where(var > 0, tf.sqrt(var), tf.ones_like(var))
    scaled = (stacked - mean) / std
    return {contracts.transformed_name(f):
            _with_values(inputs[f], scaled[:, i])
            for i, f in enumerate(features)}


def _batch_size(tensor):
    if isinstance(tensor, tf.SparseTensor):
        return tensor.dense_shape[0]
    return tf.shape(tensor, out_type=tf.int64)[0]


# Straight-line TF code: AutoGraph conversion (of this and every TFT function
# it calls) only costs tracing time.
@tf.autograph.experimental.do_not_convert
def preprocessing_fn(inputs, custom_config):
    """Z-scores every feature channel over all steps of all training examples
    and encodes the label.

    Args:
      inputs: raw features, each channel a ``[batch, steps]`` dense or sparse
        float tensor; the label a ``[batch, 1]`` feature.
      custom_config: ``{"features": [...], "label": str, "task": str,
        "anchor": channel or None}``. With an ``anchor`` channel (the
        spec's ``forecast_change``), that channel and the target are first
        taken relative to each example's last value of the channel, and
        that value (the level, which anchoring removes from the channel)
        becomes one more channel, ``contracts.LEVEL_CHANNEL``: without it
        the linear path could only forecast changes whose lag weights sum
        to one. (Only the path reads it: see
        `noisy_rnn.pipeline.trainer.signatures.path_only_channels`.)

    Returns:
      ``<feature>_xf`` (same layout as the input, z-scored) per feature, and
      ``label_xf``: the class id (vocabulary ``label_vocabulary``, most
      frequent first) for classification; the z-scored target (or change)
      for regression, with the mean (plus the anchor value) and std
      alongside so serving can undo the scaling.
    """
    inputs = dict(inputs)
    anchored, anchor = custom_config.get("anchor"), None
    channels = list(custom_config["features"])
    if anchored:
        anchor = last_values(inputs[anchored])
        inputs[contracts.LEVEL_CHANNEL] = _level(inputs[anchored], anchor)
        inputs[anchored] = _anchored(inputs[anchored], anchor)
        channels.append(contracts.LEVEL_CHANNEL)
    outputs = _z_scored_channels(inputs, channels)
    label = _dense_scalar(inputs[custom_config["label"]])
    if custom_config["task"] == "classification":
        outputs[contracts.LABEL_KEY] = tft.compute_and_apply_vocabulary(
            label, vocab_filename=contracts.LABEL_VOCABULARY,
            store_frequency=False)
    else:
        if anchor is not None:
            label = label - anchor
        mean, var = tft.mean(label), tft.var(label)
        std = tf.where(var > 0, tf.sqrt(var), tf.ones_like(var))
        outputs[contracts.LABEL_KEY] = (label - mean) / std
        # Shaped by a feature, not the label, so serving (no label) has them.
        batch = _batch_size(inputs[custom_config["features"][0]])
        outputs[contracts.LABEL_MEAN_KEY] = tf.fill([batch], mean)
        if anchor is not None:
            outputs[contracts.LABEL_MEAN_KEY] += anchor
        outputs[contracts.LABEL_STD_KEY] = tf.fill([batch], std)
    return outputs
