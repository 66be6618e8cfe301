"""Noise-free serving signatures attached to the exported model.

Both serving signatures apply the Transform graph and then the model at
inference (``training=False``: the layers run the stock fused kernels, no
random op), and return the same named outputs (classification:
``probabilities``, ``class_ids``, ``classes``; regression: ``prediction``,
and forecasting a channel's own future ``least_squares_ar`` too):

- ``serving_default``: serialized ``tf.Example`` s (input ``examples``,
  DT_STRING ``[batch]``), one float list per feature, as SequenceExampleGen
  writes them (gRPC clients, TFMA, warmup requests).
- ``serving_sequences``: raw float tensors for JSON REST clients: ``values``
  ``[batch, time, channels]`` (channels in the dataset spec's feature order,
  padded after each sequence's end) and ``lengths`` ``[batch]``.

Bad requests (a feature missing or empty, steps differing between features,
a length outside ``1..time``, NaN or infinite values) fail with an
``InvalidArgument`` error whose message says what and where; TF Serving
itself rejects a wrong dtype or rank against the signature.

``transform_features`` returns the transformed features (for TFMA).
"""

import tensorflow as tf

from noisy_rnn.schemas import contracts

SEQUENCES_SIGNATURE = contracts.SERVING_SEQUENCES


def model_channels(spec):
    """The channels the model reads, in order: the spec's features, then
    with ``forecast_change`` the forecast channel's level
    (`contracts.LEVEL_CHANNEL`, made by Transform; for the linear path
    only, `path_only_channels`)."""
    return list(spec.features) + (
        [contracts.LEVEL_CHANNEL] if spec.forecast_change else [])


def path_only_channels(spec):
    """How many of `model_channels`' last channels only the linear path
    reads (see `architecture.build_model`)."""
    return len(model_channels(spec)) - len(spec.features)


def to_sequences(transformed, feature_names):
    """Stacks transformed channels into ``values [batch, steps, channels]``
    and ``mask [batch, steps]`` (True where a step exists)."""
    channels, mask = [], None
    for name in feature_names:
        tensor = transformed[contracts.transformed_name(name)]
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


def _failing_rows(ok):
    """Indices of the ``False`` entries of a ``[batch]`` bool tensor, as
    int32 (see `_check`)."""
    return tf.cast(tf.reshape(tf.where(tf.logical_not(ok)), [-1]), tf.int32)


def _check(ok, message):
    """An ``InvalidArgument`` assertion: ``message`` and the failing rows.

    Its data are strings and int32 only: ``tf.debugging.Assert`` then adds
    a plain op, where other dtypes wrap it in a ``cond`` of two functions.
    With 12 features those were 76 of the SavedModel's 123 functions, each
    loaded by TFMA, the ServingValidator and TF Serving."""
    return tf.debugging.Assert(tf.reduce_all(ok),
                               [message + "; at batch row(s):",
                                _failing_rows(ok)], summarize=10)


def _check_batch(batch, signature):
    return tf.debugging.Assert(batch > 0, [f"{signature}: empty batch"])


def check_examples(raw, feature_names):
    """Asserts for parsed ``tf.Example`` features (sparse, one per feature):
    a non-empty batch, every feature present with >= 1 value, as many values
    as the first feature, all finite. Returns the assert ops."""
    first = feature_names[0]
    batch = raw[first].dense_shape[0]
    checks, first_steps = [_check_batch(batch, "examples")], None
    for name in feature_names:
        tensor = raw[name]
        steps = tf.math.bincount(tf.cast(tensor.indices[:, 0], tf.int32),
                                 minlength=tf.cast(batch, tf.int32),
                                 dtype=tf.int64)
        checks.append(_check(steps > 0, f"examples: feature {name} is "
                                        f"missing or has no values"))
        if first_steps is None:
            first_steps = steps
        else:
            checks.append(_check(
                tf.equal(steps, first_steps),
                f"examples: feature {name} has a different number of "
                f"steps than {first}"))
        finite = tf.math.unsorted_segment_min(
            tf.cast(tf.math.is_finite(tensor.values), tf.int32),
            tf.cast(tensor.indices[:, 0], tf.int32),
            tf.cast(batch, tf.int32))
        checks.append(_check(finite > 0, f"examples: feature {name} has "
                                         f"NaN or infinite values"))
    return checks


def sequences_to_raw(values, lengths, feature_names):
    """Raw features (one sparse ``[batch, time]`` channel per feature, as
    ``tf.io.parse_example`` gives them) from padded ``values`` and
    ``lengths``, plus the assert ops that check them."""
    batch = tf.shape(values, out_type=tf.int64)[0]
    same_batch = tf.debugging.Assert(
        tf.equal(batch, tf.size(lengths, out_type=tf.int64)),
        [f"{SEQUENCES_SIGNATURE}: values and lengths differ in batch size:",
         tf.cast(batch, tf.int32), tf.size(lengths)])
    with tf.control_dependencies([same_batch,
                                  _check_batch(batch, SEQUENCES_SIGNATURE)]):
        lengths = tf.cast(lengths, tf.int64)
    time = tf.shape(values, out_type=tf.int64)[1]
    present = tf.sequence_mask(lengths, time)
    finite = tf.reduce_all(tf.math.is_finite(values), axis=-1)
    checks = [
        _check(lengths > 0, f"{SEQUENCES_SIGNATURE}: every sequence needs "
                            f"lengths >= 1"),
        _check(lengths <= time, f"{SEQUENCES_SIGNATURE}: lengths exceed the "
                                f"time dimension of values"),
        _check(tf.reduce_all(tf.logical_or(finite, tf.logical_not(present)),
                             axis=-1),
               f"{SEQUENCES_SIGNATURE}: values has NaN or infinite entries "
               f"within lengths"),
    ]
    indices = tf.where(present)
    dense_shape = tf.stack([tf.shape(values, out_type=tf.int64)[0], time])
    raw = {name: tf.SparseTensor(indices, tf.boolean_mask(values[..., i],
                                                          present),
                                 dense_shape)
           for i, name in enumerate(feature_names)}
    return raw, checks


def make_serving_signatures(model, tf_transform_output, spec, class_names,
                            least_squares_ar=None):
    """Returns the ``serving_default``, ``serving_sequences`` and
    ``transform_features`` concrete functions to save with ``model``.

    Args:
      model: Keras model taking ``{"values", "mask"}``.
      tf_transform_output: the Transform output.
      spec: the `DatasetSpec`.
      class_names: classification: list of class labels by class id.
      least_squares_ar: forecasting a channel's own future, a fitted
        `linear_paths.fit_least_squares_ar` layer: both signatures then
        also return its forecast, ``least_squares_ar``, in the target's
        units (what the Evaluator's ``mae_vs_ar`` compares with).
    """
    model.tft_layer = tf_transform_output.transform_features_layer()
    if least_squares_ar is not None:
        model.least_squares_ar = least_squares_ar
    raw_spec = tf_transform_output.raw_feature_spec()
    serving_spec = {name: raw_spec[name] for name in spec.features}

    # Both serving signatures call this one trace of the model, so the
    # SavedModel holds the recurrent kernels (and the gradient functions
    # Keras registers with them) once: smaller, and faster to save and load.
    channels = model_channels(spec)

    @tf.function(autograph=False, input_signature=[
        tf.TensorSpec([None, None, len(channels)], tf.float32),
        tf.TensorSpec([None, None], tf.bool)])
    def infer(values, mask):
        return model({"values": values, "mask": mask}, training=False)

    def predict(raw, checks):
        with tf.control_dependencies(checks):
            raw = {name: tf.sparse.reorder(tensor)
                   for name, tensor in raw.items()}
        transformed = model.tft_layer(raw)
        values, mask = to_sequences(transformed, channels)
        outputs = infer(values, mask)
        if spec.task == "classification":
            probabilities = tf.nn.softmax(outputs, axis=-1)
            class_ids = tf.argmax(probabilities, axis=-1)
            return {contracts.PROBABILITIES: probabilities,
                    contracts.CLASS_IDS: class_ids,
                    contracts.CLASSES: tf.gather(tf.constant(class_names),
                                                 class_ids)}
        def in_target_units(scaled):
            return (tf.squeeze(scaled, axis=-1) *
                    transformed[contracts.LABEL_STD_KEY] +
                    transformed[contracts.LABEL_MEAN_KEY])

        result = {contracts.PREDICTION: in_target_units(outputs)}
        if least_squares_ar is not None:
            result[contracts.LEAST_SQUARES_AR] = in_target_units(
                model.least_squares_ar(values, mask))
        return result

    examples_spec = tf.TensorSpec([None], tf.string, name="examples")

    @tf.function(input_signature=[examples_spec], autograph=False)
    def serve_examples(examples):
        raw = tf.io.parse_example(examples, serving_spec)
        return predict(raw, check_examples(raw, spec.features))

    @tf.function(input_signature=[
        tf.TensorSpec([None, None, len(spec.features)], tf.float32,
                      name="values"),
        tf.TensorSpec([None], tf.int32, name="lengths")], autograph=False)
    def serve_sequences(values, lengths):
        return predict(*sequences_to_raw(values, lengths, spec.features))

    @tf.function(input_signature=[examples_spec], autograph=False)
    def transform_features(examples):
        return model.tft_layer(tf.io.parse_example(examples, raw_spec))

    return {contracts.SERVING_DEFAULT: serve_examples.get_concrete_function(),
            SEQUENCES_SIGNATURE: serve_sequences.get_concrete_function(),
            "transform_features": transform_features.get_concrete_function()}
