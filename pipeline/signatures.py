"""Noise-free serving signatures attached to the exported model.

``serving_default`` takes serialized ``tf.Example`` s (``examples``), applies
the Transform graph and the model at inference (``training=False``: the
layers run the stock fused kernels, no random op) and returns named outputs.
``transform_features`` returns the transformed features (for TFMA).
"""

import tensorflow as tf

from pipeline import features as names


def to_sequences(transformed, feature_names):
    """Stacks transformed channels into ``values [batch, steps, channels]``
    and ``mask [batch, steps]`` (True where a step exists)."""
    channels, mask = [], None
    for name in feature_names:
        tensor = transformed[names.transformed_name(name)]
        if isinstance(tensor, tf.SparseTensor):
            present = tf.sparse.to_dense(
                tf.SparseTensor(tensor.indices,
                                tf.ones_like(tensor.values, tf.bool),
                                tensor.dense_shape), default_value=False)
            tensor = tf.sparse.to_dense(tensor)
        else:
            present = tf.ones_like(tensor, tf.bool)
        channels.append(tensor)
        mask = present if mask is None else mask
    return tf.stack(channels, axis=-1), mask


def _raw_serving_spec(tf_transform_output, label):
    spec = dict(tf_transform_output.raw_feature_spec())
    spec.pop(label, None)
    return spec


def make_serving_signatures(model, tf_transform_output, spec, class_names):
    """Returns ``{"serving_default": ..., "transform_features": ...}``.

    Args:
      model: Keras model taking ``{"values", "mask"}``.
      tf_transform_output: the Transform output.
      spec: the `DatasetSpec`.
      class_names: classification: list of class labels by class id.
    """
    model.tft_layer = tf_transform_output.transform_features_layer()
    serving_spec = _raw_serving_spec(tf_transform_output, spec.label_feature)
    raw_spec = tf_transform_output.raw_feature_spec()
    examples_spec = tf.TensorSpec([None], tf.string, name="examples")

    @tf.function(input_signature=[examples_spec], autograph=False)
    def serve_examples(examples):
        raw = tf.io.parse_example(examples, serving_spec)
        transformed = model.tft_layer(raw)
        values, mask = to_sequences(transformed, spec.features)
        outputs = model({"values": values, "mask": mask}, training=False)
        if spec.task == "classification":
            probabilities = tf.nn.softmax(outputs, axis=-1)
            class_ids = tf.argmax(probabilities, axis=-1)
            return {"probabilities": probabilities, "class_ids": class_ids,
                    "classes": tf.gather(tf.constant(class_names), class_ids)}
        scaled = tf.squeeze(outputs, axis=-1)
        return {"prediction": scaled * transformed[names.LABEL_STD_KEY] +
                transformed[names.LABEL_MEAN_KEY]}

    @tf.function(input_signature=[examples_spec], autograph=False)
    def transform_features(examples):
        return model.tft_layer(tf.io.parse_example(examples, raw_spec))

    return {"serving_default": serve_examples.get_concrete_function(),
            "transform_features": transform_features.get_concrete_function()}
