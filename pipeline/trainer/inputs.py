"""The Trainer's input pipeline: raw examples through the Transform graph
into padded batches."""

import tensorflow as tf
from tfx_bsl.public import tfxio

from noisy_rnn.pipeline.trainer import signatures
from noisy_rnn.schemas import contracts


def transformed_examples(file_pattern, data_accessor, tf_transform_output,
                         spec, batch_size):
    """One ``({"values", "mask"}, label)`` per raw example, through the
    Transform graph (Transform does not materialize its output), cached: the
    graph runs once per example however often the result is read."""
    dataset = data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(batch_size=batch_size, num_epochs=1,
                                       shuffle=False),
        tf_transform_output.raw_metadata.schema)
    tft_layer = tf_transform_output.transform_features_layer()

    @tf.autograph.experimental.do_not_convert
    def to_model_inputs(raw):
        transformed = tft_layer(raw)
        values, mask = signatures.to_sequences(
            transformed, signatures.model_channels(spec))
        return ({"values": values, "mask": mask},
                tf.reshape(transformed[contracts.LABEL_KEY], [-1]))

    return dataset.map(to_model_inputs).unbatch().cache()


def batched(examples, batch_size, training, seed=0):
    """Padded batches of `transformed_examples`: shuffled and repeated when
    ``training``, else one ordered pass."""
    if training:
        examples = examples.shuffle(10000, seed=seed).repeat()
    # Padding (mask False) is only added up to each batch's longest example.
    dataset = examples.padded_batch(batch_size).prefetch(2)
    # No autotuning: its background thread doubles its sleep up to 60 s, and
    # deleting the iterator waits for it to wake up (measured 0-10 s at the
    # end of every training run); the data here is small and cached.
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)

