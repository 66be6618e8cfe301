"""The Trainer's model code: `build_model` from `layers/`, and `run_fn`.

The model takes ``{"values": [batch, steps, channels], "mask": [batch,
steps]}`` (the z-scored channels from Transform, padded, and which steps
exist) and returns class logits or the scaled regression target.
"""

import json
import math
import os

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras
from tfx.components.trainer.fn_args_utils import FnArgs
from tfx_bsl.public import tfxio

import layers
from pipeline import features as names
from pipeline import signatures
from pipeline.config import ModelConfig
from schemas.spec import DatasetSpec


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


def build_model(config: ModelConfig, num_channels, num_outputs):
    """Stacked recurrent layers and a dense head, compiled.

    ``num_outputs`` is the number of classes (logits, sparse cross-entropy)
    or 1 for regression (MSE on the scaled target).
    """
    values = tf_keras.Input((None, num_channels), name="values")
    mask = tf_keras.Input((None,), dtype=tf.bool, name="mask")
    hidden = values
    for index in range(config.layers):
        hidden = recurrent_layer(config, index < config.layers - 1)(
            hidden, mask=mask)
    outputs = tf_keras.layers.Dense(num_outputs, name="head")(hidden)
    model = tf_keras.Model({"values": values, "mask": mask}, outputs)
    optimizer = tf_keras.optimizers.Adam(config.learning_rate)
    if num_outputs > 1:
        model.compile(optimizer, tf_keras.losses.SparseCategoricalCrossentropy(
            from_logits=True), metrics=["accuracy"])
    else:
        model.compile(optimizer, "mse", metrics=["mae"])
    return model


def input_fn(file_pattern, data_accessor, tf_transform_output, spec,
             batch_size, num_epochs=None):
    """Batches of ``({"values", "mask"}, label)`` from transformed examples."""
    dataset = data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(batch_size=batch_size,
                                       label_key=names.LABEL_KEY,
                                       num_epochs=num_epochs),
        tf_transform_output.transformed_metadata.schema)

    def to_model_inputs(features, label):
        values, mask = signatures.to_sequences(features, spec.features)
        return {"values": values, "mask": mask}, tf.reshape(label, [-1])

    return dataset.map(to_model_inputs).prefetch(tf.data.AUTOTUNE)


def run_fn(fn_args: FnArgs):
    """Trains with early stopping on the eval split and exports the model
    with noise-free serving signatures (TFX Trainer entry point).

    ``fn_args.custom_config``: ``{"model": ModelConfig fields, "dataset":
    DatasetSpec fields}``.
    """
    config = ModelConfig(**fn_args.custom_config["model"])
    spec = DatasetSpec.from_dict(fn_args.custom_config["dataset"])
    tf_keras.utils.set_random_seed(config.seed)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)

    class_names = []
    if spec.task == "classification":
        class_names = [c.decode() if isinstance(c, bytes) else c for c in
                       tf_transform_output.vocabulary_by_name(
                           names.LABEL_VOCABULARY)]
    model = build_model(config, len(spec.features), len(class_names) or 1)

    train = input_fn(fn_args.train_files, fn_args.data_accessor,
                     tf_transform_output, spec, config.batch_size)
    evaluation = input_fn(fn_args.eval_files, fn_args.data_accessor,
                          tf_transform_output, spec, config.batch_size,
                          num_epochs=1)
    train_steps = fn_args.train_steps or config.train_steps
    steps_per_round = min(config.eval_every, train_steps)
    history = model.fit(
        train, steps_per_epoch=steps_per_round,
        epochs=math.ceil(train_steps / steps_per_round),
        validation_data=evaluation, verbose=2,
        callbacks=[
            tf_keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=config.early_stopping_patience,
                restore_best_weights=True),
            tf_keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir)])

    model.save(fn_args.serving_model_dir, save_format="tf",
               signatures=signatures.make_serving_signatures(
                   model, tf_transform_output, spec, class_names))
    with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir,
                                        "history.json"), "w") as f:
        json.dump({key: [float(v) for v in values]
                   for key, values in history.history.items()}, f)
