"""The training loop: Adam, periodic eval rounds, early stopping, and the
loss and metric for each task."""

import math

import tensorflow as tf
import tf_keras
from absl import logging

from noisy_rnn.pipeline.config import ModelConfig
from noisy_rnn.pipeline.trainer.progress import TrainingProgress, noise_stds
from noisy_rnn.pipeline.trainer.weight_average import WeightAverage


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


def train(model, train_data, eval_data, config: ModelConfig, log_dir,
          evaluate_start=False):
    """Adam on the task loss (plus layer losses, e.g. the std prior), with
    a pass over ``eval_data`` (the validation slice) every ``eval_every``
    steps, early stopping on its loss and the best weights restored (with ``ema_decay``, the averaged weights
    are the ones evaluated and kept). With ``early_stopping_patience`` 0 it
    runs every step and keeps the last weights: the eval rounds are only
    logged. With ``evaluate_start``, a first round (step 0, train loss NaN)
    scores the model before any step, and early stopping may keep it (a
    model that starts from a fitted linear path is then never worse than
    that path on the validation slice). Returns the history of eval rounds
    (with each trainable noise std, ``noise_std_<layer>``);
    ``progress.json`` in ``log_dir`` follows the steps while it runs.

    A plain loop in ``tf.function(autograph=False)``: same maths as
    ``model.fit``, without ~15 s of AutoGraph conversion of Keras' training
    internals on first call.
    """
    output_shape = model.output_shape
    if isinstance(output_shape, list):
        output_shape = output_shape[0]
    loss_fn, eval_loss_fn, metric = loss_and_metric(
        output_shape[-1], config.label_smoothing)
    optimizer = tf_keras.optimizers.Adam(config.learning_rate)
    eval_loss = tf_keras.metrics.Mean()
    average = WeightAverage(model, config.ema_decay)

    # One trace each: batches differ in size and padded length.
    @tf.function(autograph=False, input_signature=train_data.element_spec)
    def train_step(inputs, labels):
        with tf.GradientTape() as tape:
            outputs = model(inputs, training=True)
            if isinstance(outputs, (list, tuple)):
                # The model's output, then its branches' own (see
                # `architecture.build_model`): each fitted to the labels.
                losses = [loss_fn(labels, o) for o in outputs]
                loss = losses[0]
            else:
                loss = loss_fn(labels, outputs)
                losses = [loss]
            total = tf.add_n(losses + model.losses)
        variables = model.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(total, variables),
                                      variables))
        average.update()
        return loss

    @tf.function(autograph=False, input_signature=eval_data.element_spec)
    def eval_step(inputs, labels):
        outputs = model(inputs, training=False)
        if isinstance(outputs, (list, tuple)):
            outputs = outputs[0]
        eval_loss.update_state(eval_loss_fn(labels, outputs))
        metric.update_state(labels, outputs)

    writer = tf.summary.create_file_writer(log_dir)
    history = {"step": [], "train_loss": [], "val_loss": [],
               f"val_{metric.name}": []}
    best_loss, best_weights, rounds_without_gain = math.inf, None, 0
    progress = TrainingProgress(log_dir, config.train_steps)

    def eval_round(step, train_loss):
        """Scores the (averaged) model on ``eval_data`` and records it;
        returns whether early stopping ends training here."""
        nonlocal best_loss, best_weights, rounds_without_gain
        eval_loss.reset_state()
        metric.reset_state()
        with average.swapped_in():
            for inputs, labels in eval_data:
                eval_step(inputs, labels)
        values = {"step": step, "train_loss": train_loss,
                  "val_loss": float(eval_loss.result()),
                  f"val_{metric.name}": float(metric.result()),
                  **noise_stds(model)}
        progress.eval_round(values)
        logging.info("step %d: %s", step, values)
        with writer.as_default(step=step):
            for name, value in values.items():
                if name != "step" and not math.isnan(value):
                    tf.summary.scalar(name, value)
        for name, value in values.items():
            history.setdefault(name, []).append(value)
        if not config.early_stopping_patience:
            return False
        if values["val_loss"] < best_loss:
            best_loss, best_weights = values["val_loss"], average.weights()
            rounds_without_gain = 0
            return False
        rounds_without_gain += 1
        return rounds_without_gain >= config.early_stopping_patience

    if evaluate_start:  # the model before any step: a candidate too
        eval_round(0, math.nan)
    batches = iter(train_data)
    for step in range(1, config.train_steps + 1):
        train_loss = train_step(*next(batches))
        progress.step(step)
        if step % config.eval_every and step != config.train_steps:
            continue
        if eval_round(step, float(train_loss)):
            break
    writer.flush()
    if not config.early_stopping_patience:
        best_weights = average.weights()
    if best_weights is not None:
        model.set_weights(best_weights)
    return history


