"""The Trainer's model code: `build_model` from `layers/`, and `run_fn`.

The model takes ``{"values": [batch, steps, channels], "mask": [batch,
steps]}`` (the z-scored channels from Transform, padded, and which steps
exist) and returns class logits or the scaled regression target.
"""

import contextlib
import dataclasses
import io
import json
import math
import os

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras
from absl import logging
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
                make_recurrent=recurrent_layer):
    """Stacked recurrent layers (and, with ``conv_filters``, a
    `MaskedConvFeatures` branch beside them) and a dense head.

    ``num_outputs`` is the number of classes (the head outputs logits) or 1
    for regression (the scaled target). ``make_recurrent(config,
    return_sequences)`` makes each recurrent layer (benchmarks pass stock
    layers).
    """
    values = tf_keras.Input((None, num_channels), name="values")
    mask = tf_keras.Input((None,), dtype=tf.bool, name="mask")
    hidden = values
    for index in range(config.layers):
        hidden = make_recurrent(config, index < config.layers - 1)(
            hidden, mask=mask)
    if config.conv_filters:
        hidden = tf_keras.layers.Concatenate()([
            hidden, MaskedConvFeatures(config.conv_filters, name="conv")(
                values, mask)])
    outputs = tf_keras.layers.Dense(num_outputs, name="head")(hidden)
    return tf_keras.Model({"values": values, "mask": mask}, outputs)


def loss_and_metric(num_outputs, label_smoothing=0.0):
    """Training loss, eval loss and the eval metric (accuracy, or MAE when
    regressing). The eval loss is the plain cross-entropy even when training
    smooths the labels.

    Regression outputs are ``[batch, 1]``; labels are ``[batch]``.
    """
    if num_outputs > 1:
        plain = tf_keras.losses.SparseCategoricalCrossentropy(
            from_logits=True)
        smoothed = tf_keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=label_smoothing)
        train_loss = plain if not label_smoothing else (
            lambda y, p: smoothed(tf.one_hot(y, num_outputs), p))
        return (train_loss, plain, tf_keras.metrics.SparseCategoricalAccuracy(
            name="accuracy"))
    mse = tf_keras.losses.MeanSquaredError()
    loss = lambda y, p: mse(y, tf.squeeze(p, -1))  # noqa: E731
    return loss, loss, _SqueezedMAE(name="mae")


class _SqueezedMAE(tf_keras.metrics.MeanAbsoluteError):
    def update_state(self, y_true, y_pred, sample_weight=None):
        return super().update_state(y_true, tf.squeeze(y_pred, -1),
                                    sample_weight)


class WeightAverage:
    """An exponential moving average of a model's weights (``decay`` 0:
    none), updated after each training step, swapped into the model to
    evaluate it.

    Bias-corrected (as Adam's moments are): the averages start at zero and
    are divided by ``1 - decay**steps``, so they weigh only the weights
    training produced. Uncorrected, the starting weights would keep
    ``decay**steps`` of the average: 37 % after 100 steps at decay 0.99.
    """

    def __init__(self, model, decay):
        self.model, self.decay = model, decay
        self.averages = [tf.Variable(tf.zeros_like(w), trainable=False)
                         for w in model.weights] if decay else []
        self.steps = tf.Variable(0, dtype=tf.int64, trainable=False)

    def update(self):
        for average, weight in zip(self.averages, self.model.weights):
            average.assign(self.decay * average + (1 - self.decay) * weight)
        self.steps.assign_add(1)

    def weights(self):
        """The weights to evaluate and keep: the corrected averages, or the
        model's own when not averaging (or before the first update)."""
        steps = int(self.steps.numpy())
        if not self.averages or not steps:
            return self.model.get_weights()
        correction = 1.0 - self.decay ** steps
        return [(average.numpy() / correction).astype(average.dtype.name)
                for average in self.averages]

    @contextlib.contextmanager
    def swapped_in(self):
        """The model holds the averages inside the block, its own weights
        again after it."""
        if not self.averages:
            yield
            return
        live = self.model.get_weights()
        self.model.set_weights(self.weights())
        try:
            yield
        finally:
            self.model.set_weights(live)


def train(model, train_data, eval_data, config: ModelConfig, log_dir):
    """Adam on the task loss (plus layer losses, e.g. the std prior), with
    an eval pass every ``eval_every`` steps, early stopping on the eval loss
    and the best weights restored (with ``ema_decay``, the averaged weights
    are the ones evaluated and kept). With ``early_stopping_patience`` 0 it
    runs every step and keeps the last weights: the eval rounds are only
    logged. Returns the history of eval rounds.

    A plain loop in ``tf.function(autograph=False)``: same maths as
    ``model.fit``, without ~15 s of AutoGraph conversion of Keras' training
    internals on first call.
    """
    loss_fn, eval_loss_fn, metric = loss_and_metric(
        model.output_shape[-1], config.label_smoothing)
    optimizer = tf_keras.optimizers.Adam(config.learning_rate)
    eval_loss = tf_keras.metrics.Mean()
    average = WeightAverage(model, config.ema_decay)

    # One trace each: batches differ in size and padded length.
    @tf.function(autograph=False, input_signature=train_data.element_spec)
    def train_step(inputs, labels):
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(inputs, training=True))
            total = tf.add_n([loss] + model.losses)
        variables = model.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(total, variables),
                                      variables))
        average.update()
        return loss

    @tf.function(autograph=False, input_signature=eval_data.element_spec)
    def eval_step(inputs, labels):
        outputs = model(inputs, training=False)
        eval_loss.update_state(eval_loss_fn(labels, outputs))
        metric.update_state(labels, outputs)

    writer = tf.summary.create_file_writer(log_dir)
    history = {"step": [], "train_loss": [], "val_loss": [],
               f"val_{metric.name}": []}
    best_loss, best_weights, rounds_without_gain = math.inf, None, 0
    batches = iter(train_data)
    for step in range(1, config.train_steps + 1):
        train_loss = train_step(*next(batches))
        if step % config.eval_every and step != config.train_steps:
            continue
        eval_loss.reset_state()
        metric.reset_state()
        with average.swapped_in():
            for inputs, labels in eval_data:
                eval_step(inputs, labels)
        values = {"step": step, "train_loss": float(train_loss),
                  "val_loss": float(eval_loss.result()),
                  f"val_{metric.name}": float(metric.result())}
        logging.info("step %d: %s", step, values)
        with writer.as_default(step=step):
            for name, value in values.items():
                if name != "step":
                    tf.summary.scalar(name, value)
        for name, value in values.items():
            history[name].append(value)
        if not config.early_stopping_patience:
            continue
        if values["val_loss"] < best_loss:
            best_loss, best_weights = values["val_loss"], average.weights()
            rounds_without_gain = 0
        else:
            rounds_without_gain += 1
            if rounds_without_gain >= config.early_stopping_patience:
                break
    writer.flush()
    if not config.early_stopping_patience:
        best_weights = average.weights()
    if best_weights is not None:
        model.set_weights(best_weights)
    return history


def input_fn(file_pattern, data_accessor, tf_transform_output, spec,
             batch_size, training, seed=0):
    """Batches of ``({"values", "mask"}, label)`` from raw examples, through
    the Transform graph (Transform does not materialize its output).

    The Transform graph runs once per example: its output is cached, then
    (training) shuffled, repeated and re-batched; eval is one ordered pass.
    """
    dataset = data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(batch_size=batch_size, num_epochs=1,
                                       shuffle=False),
        tf_transform_output.raw_metadata.schema)
    tft_layer = tf_transform_output.transform_features_layer()

    @tf.autograph.experimental.do_not_convert
    def to_model_inputs(raw):
        transformed = tft_layer(raw)
        values, mask = signatures.to_sequences(transformed, spec.features)
        return ({"values": values, "mask": mask},
                tf.reshape(transformed[names.LABEL_KEY], [-1]))

    dataset = dataset.map(to_model_inputs).unbatch().cache()
    if training:
        dataset = dataset.shuffle(10000, seed=seed).repeat()
    # Padding (mask False) is only added up to each batch's longest example.
    dataset = dataset.padded_batch(batch_size).prefetch(2)
    # No autotuning: its background thread doubles its sleep up to 60 s, and
    # deleting the iterator waits for it to wake up (measured 0-10 s at the
    # end of every training run); the data here is small and cached.
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


MODEL_CONFIG = "model_config.json"  # in the ModelRun: what was trained
WARM_START = "warm_start.json"      # in the ModelRun: where training started
WEIGHTS = os.path.join("warm_start", "weights")  # in the Model artifact


def warm_start(model, base_model):
    """Loads the weights of ``base_model`` (a previous Trainer's
    ``Format-Serving`` folder, or None) into ``model``. Returns
    ``{"base_model", "used", "reason"}``: an architecture that no longer
    matches means training from scratch, said so, not a failure."""
    if not base_model:
        return {"base_model": None, "used": False,
                "reason": "no pushed model yet: trained from scratch"}
    weights = os.path.join(os.path.dirname(base_model), WEIGHTS)
    if not tf.io.gfile.exists(weights + ".index"):
        return {"base_model": base_model, "used": False,
                "reason": f"no warm-start weights at {weights}: trained "
                          f"from scratch"}
    try:
        model.load_weights(weights)
    except (ValueError, tf.errors.OpError) as error:
        return {"base_model": base_model, "used": False,
                "reason": f"weights do not fit this model ("
                          f"{str(error).splitlines()[0]}): trained from "
                          f"scratch"}
    return {"base_model": base_model, "used": True,
            "reason": "started from the latest pushed model"}
REFERENCE_DIR = "serving_reference"
REFERENCE_EXAMPLES = "examples.tfrecord"
REFERENCE_OUTPUTS = "outputs.npz"


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
    values, mask = signatures.to_sequences(transformed, spec.features)
    outputs = model({"values": values, "mask": mask}, training=False)
    if spec.task == "classification":
        reference = {"probabilities": tf.nn.softmax(outputs, -1).numpy()}
    else:
        reference = {"prediction": (
            tf.squeeze(outputs, -1) * transformed[names.LABEL_STD_KEY] +
            transformed[names.LABEL_MEAN_KEY]).numpy()}
    tf.io.gfile.makedirs(directory)
    with tf.io.TFRecordWriter(os.path.join(directory,
                                           REFERENCE_EXAMPLES)) as writer:
        for record in records:
            writer.write(record)
    buffer = io.BytesIO()  # np.savez seeks; GFile (any filesystem) cannot
    np.savez(buffer, **reference)
    with tf.io.gfile.GFile(os.path.join(directory, REFERENCE_OUTPUTS),
                           "wb") as f:
        f.write(buffer.getvalue())


def run_fn(fn_args: FnArgs):
    """Trains (early stopping on the eval split unless turned off) and
    exports the model with noise-free serving signatures (TFX Trainer entry
    point).

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

    started = warm_start(model, fn_args.base_model)
    logging.info("warm start: %s", started)
    train_data = input_fn(fn_args.train_files, fn_args.data_accessor,
                          tf_transform_output, spec, config.batch_size,
                          training=True, seed=config.seed)
    eval_data = input_fn(fn_args.eval_files, fn_args.data_accessor,
                         tf_transform_output, spec, config.batch_size,
                         training=False)
    config = dataclasses.replace(
        config, train_steps=fn_args.train_steps or config.train_steps)
    history = train(model, train_data, eval_data, config,
                    fn_args.model_run_dir)

    # Layer traces are not needed to serve or evaluate: the signatures are.
    model.save(fn_args.serving_model_dir, save_format="tf", save_traces=False,
               signatures=signatures.make_serving_signatures(
                   model, tf_transform_output, spec, class_names))
    with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir,
                                        "history.json"), "w") as f:
        json.dump(history, f)
    model.save_weights(os.path.join(
        os.path.dirname(fn_args.serving_model_dir), WEIGHTS))
    for name, values in ((MODEL_CONFIG, dataclasses.asdict(config)),
                         (WARM_START, started)):
        with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, name),
                               "w") as f:
            json.dump(values, f)
    write_serving_reference(
        model, fn_args.eval_files, tf_transform_output, spec,
        os.path.join(fn_args.model_run_dir, REFERENCE_DIR))
