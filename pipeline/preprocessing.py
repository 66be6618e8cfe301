"""Transform's ``preprocessing_fn``: per-channel z-score, label encoding.

Runs once over the training split (analysis) and is then part of the serving
graph, so training and serving see exactly the same scaling.
"""

import tensorflow as tf
import tensorflow_transform as tft

from pipeline import features as names


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


def _z_scored_channels(inputs, features):
    """Z-scores every channel with one mean and one variance analyzer over
    the stacked channels (all channels of an example share their steps), not
    two analyzers per channel: far fewer Beam stages and graph traces."""
    stacked = tf.stack([_values(inputs[f]) for f in features], axis=-1)
    mean = tft.mean(stacked, reduce_instance_dims=False)
    var = tft.var(stacked, reduce_instance_dims=False)
    std = tf.where(var > 0, tf.sqrt(var), tf.ones_like(var))
    scaled = (stacked - mean) / std
    return {names.transformed_name(f): _with_values(inputs[f], scaled[:, i])
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
      custom_config: ``{"features": [...], "label": str, "task": str}``.

    Returns:
      ``<feature>_xf`` (same layout as the input, z-scored) per feature, and
      ``label_xf``: the class id (vocabulary ``label_vocabulary``, most frequent first) for
      classification; the z-scored target for regression, with its mean and
      std alongside so serving can undo the scaling.
    """
    outputs = _z_scored_channels(inputs, custom_config["features"])
    label = _dense_scalar(inputs[custom_config["label"]])
    if custom_config["task"] == "classification":
        outputs[names.LABEL_KEY] = tft.compute_and_apply_vocabulary(
            label, vocab_filename=names.LABEL_VOCABULARY,
            store_frequency=False)
    else:
        mean, var = tft.mean(label), tft.var(label)
        std = tf.where(var > 0, tf.sqrt(var), tf.ones_like(var))
        outputs[names.LABEL_KEY] = (label - mean) / std
        # Shaped by a feature, not the label, so serving (no label) has them.
        batch = _batch_size(inputs[custom_config["features"][0]])
        outputs[names.LABEL_MEAN_KEY] = tf.fill([batch], mean)
        outputs[names.LABEL_STD_KEY] = tf.fill([batch], std)
    return outputs
