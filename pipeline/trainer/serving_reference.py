"""The Trainer's in-process outputs on real eval examples, for the
ServingValidator to compare the exported model against."""

import io
import os

import numpy as np
import tensorflow as tf

from noisy_rnn.pipeline.trainer import signatures
from noisy_rnn.schemas import contracts


def write_serving_reference(model, eval_files, tf_transform_output, spec,
                            directory, count=64):
    """Writes the first ``count`` raw eval examples and the trained Keras
    model's in-process outputs on them (``probabilities`` or ``prediction``,
    as the serving signature names them) to ``directory``.

    The ServingValidator checks that the exported model, loaded in a clean
    process, reproduces these outputs.
    """
    files = sorted(f for pattern in eval_files
                   for f in tf.io.gfile.glob(pattern))
    records = [r.numpy() for r in tf.data.TFRecordDataset(
        files, compression_type="GZIP").take(count)]
    raw = tf.io.parse_example(records, {
        name: tf_transform_output.raw_feature_spec()[name]
        for name in spec.features})
    transformed = tf_transform_output.transform_features_layer()(raw)
    values, mask = signatures.to_sequences(transformed,
                                           signatures.model_channels(spec))
    outputs = model({"values": values, "mask": mask}, training=False)
    if spec.task == "classification":
        reference = {
            contracts.PROBABILITIES: tf.nn.softmax(outputs, -1).numpy()}
    else:
        reference = {contracts.PREDICTION: (
            tf.squeeze(outputs, -1) * transformed[contracts.LABEL_STD_KEY] +
            transformed[contracts.LABEL_MEAN_KEY]).numpy()}
    tf.io.gfile.makedirs(directory)
    with tf.io.TFRecordWriter(os.path.join(
            directory, contracts.REFERENCE_EXAMPLES_FILE)) as writer:
        for record in records:
            writer.write(record)
    buffer = io.BytesIO()  # np.savez seeks; GFile (any filesystem) cannot
    np.savez(buffer, **reference)
    with tf.io.gfile.GFile(os.path.join(
            directory, contracts.REFERENCE_OUTPUTS_FILE), "wb") as f:
        f.write(buffer.getvalue())


