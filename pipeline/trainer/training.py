"""The training loop: Adam, periodic eval rounds, early stopping, and the
loss and metric for each task."""

import dataclasses
import math
from typing import Callable

import numpy as np
import tensorflow as tf
import tf_keras
from absl import logging

from noisy_rnn.pipeline.config import ModelConfig
from noisy_rnn.pipeline.trainer import paired
from noisy_rnn.pipeline.trainer.architecture import LINEAR_OFFSET
from noisy_rnn.pipeline.trainer.progress import TrainingProgress, noise_stds
from noisy_rnn.pipeline.trainer.weight_average import WeightAverage
from noisy_rnn.schemas import contracts


def loss_and_metric(num_outputs, label_smoothing=0.0):
    """Training loss, eval loss and the eval metric (accuracy, or MAE when
    regressing: an `EvalMetric`). The eval loss is the plain cross-entropy
    even when training smooths the labels.

    Regression outputs are ``[batch, 1]``; labels are ``[batch]``.
    """
    if num_outputs > 1:
        plain = tf_keras.losses.SparseCategoricalCrossentropy(
            from_logits=True)
        smoothed = tf_keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=label_smoothing)
        train_loss = plain if not label_smoothing else (
            lambda y, p: smoothed(tf.one_hot(y, num_outputs), p))
        return train_loss, plain, EvalMetric("accuracy", _accuracy)
    mse = tf_keras.losses.MeanSquaredError()
    loss = lambda y, p: mse(y, tf.squeeze(p, -1))  # noqa: E731
    return loss, loss, EvalMetric("mae", _mean_absolute_error)


@dataclasses.dataclass(frozen=True)
class EvalMetric:
    """An eval round's metric, ``metric(labels, outputs) -> float`` on the
    round's numpy arrays: what the tf_keras metric of the same name gives,
    in float32. Not the Keras metric itself: called eagerly, it converts
    itself with AutoGraph on its first call (1.6 s of every classification
    run's Trainer, measured)."""

    name: str
    fn: Callable

    def __call__(self, labels, outputs):
        return self.fn(labels, outputs)


def _accuracy(labels, outputs):
    """`SparseCategoricalAccuracy`: the share of argmax hits, in float32."""
    hits = np.argmax(outputs, -1) == np.reshape(labels, -1)
    return float(np.float32(hits.sum()) / np.float32(hits.size))


def _mean_absolute_error(labels, outputs):
    """`MeanAbsoluteError` of ``[batch, 1]`` outputs, in float32."""
    errors = np.abs(np.reshape(labels, -1).astype(np.float32) -
                    np.reshape(outputs, -1).astype(np.float32))
    return float(np.mean(errors, dtype=np.float32))


def per_example_loss(num_outputs):
    """The eval loss of each example ``[batch]``."""
    if num_outputs > 1:
        return tf_keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction="none")
    return lambda y, p: tf.square(  # noqa: E731
        tf.cast(y, p.dtype) - tf.squeeze(p, -1))


# The history's rounds beside a linear path (see `train`).
WITH_PATH = contracts.HISTORY_WITH_PATH
BRANCHES_ALONE = contracts.HISTORY_BRANCHES_ALONE
PATH_DROPPED = contracts.HISTORY_PATH_DROPPED


def prefer_branches_alone(with_path, alone):
    """Whether the branches alone beat the model with its linear path on
    the per-example validation losses: lower by more than the paired
    standard error of the difference (a chance dip on a small slice does
    not drop a strong path; the Tuner's noise rule, one SE)."""
    return paired.beats(with_path, alone)


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
    that path on the validation slice). A model with a linear path that
    also returns its branches' own output (`architecture.build_model`)
    offers two candidates each round: with the path, and the branches
    alone, chosen by `prefer_branches_alone`; a kept round of the branches
    alone drops the path (`LinearOffset.keep_branch_alone`). Training goes
    on while either candidate's validation loss still falls (branches that
    start from nothing beside a fitted path need the steps to catch up).
    The sum trains on the plain loss, the branches' own output on the
    (label-smoothed) training loss. Returns the
    history of eval rounds (the kept candidate's ``val_loss`` and metric,
    each candidate's loss, ``path_dropped``, and each trainable noise std,
    ``noise_std_<layer>``);
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
    average = WeightAverage(model, config.ema_decay)

    # One trace each: batches differ in size and padded length.
    @tf.function(autograph=False, input_signature=train_data.element_spec)
    def train_step(inputs, labels):
        with tf.GradientTape() as tape:
            outputs = model(inputs, training=True)
            if isinstance(outputs, (list, tuple)):
                # The model's output, then its branches' own (see
                # `architecture.build_model`): each fitted to the labels.
                # The sum's with the plain loss: its weights calibrate a
                # path fitted without label smoothing.
                losses = [eval_loss_fn(labels, outputs[0])] + [
                    loss_fn(labels, o) for o in outputs[1:]]
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

    example_loss = per_example_loss(output_shape[-1])

    @tf.function(autograph=False, input_signature=eval_data.element_spec)
    def eval_step(inputs, labels):
        outputs = model(inputs, training=False)
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        return [(example_loss(labels, o), o) for o in outputs]

    writer = tf.summary.create_file_writer(log_dir)
    history = {"step": [], "train_loss": [], "val_loss": [],
               f"val_{metric.name}": []}
    best_loss, best_weights, rounds_without_gain = math.inf, None, 0
    best_dropped, best_alone = False, math.inf
    progress = TrainingProgress(log_dir, config.train_steps)

    def eval_round(step, train_loss):
        """Scores the (averaged) model on ``eval_data`` and records it;
        returns whether early stopping ends training here."""
        nonlocal best_loss, best_weights, rounds_without_gain, best_dropped
        nonlocal best_alone
        losses, outputs, labels = None, None, []
        with average.swapped_in():
            for batch_inputs, batch_labels in eval_data:
                scored = eval_step(batch_inputs, batch_labels)
                if losses is None:
                    losses, outputs = [[] for _ in scored], [[] for _ in
                                                             scored]
                for k, (loss, output) in enumerate(scored):
                    losses[k].append(loss.numpy())
                    outputs[k].append(output.numpy())
                labels.append(batch_labels.numpy())
        losses = [np.concatenate(l) for l in losses]
        outputs = [np.concatenate(o) for o in outputs]
        labels = np.concatenate(labels)
        dropped = len(losses) > 1 and prefer_branches_alone(*losses)
        kept = 1 if dropped else 0
        values = {"step": step, "train_loss": train_loss,
                  "val_loss": float(losses[kept].mean()),
                  f"val_{metric.name}": metric(labels, outputs[kept]),
                  **noise_stds(model)}
        if len(losses) > 1:
            values.update({WITH_PATH: float(losses[0].mean()),
                           BRANCHES_ALONE: float(losses[1].mean()),
                           PATH_DROPPED: float(dropped)})
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
        improved = False
        if values["val_loss"] < best_loss:
            best_loss, best_weights = values["val_loss"], average.weights()
            best_dropped, improved = dropped, True
        # Branches still learning may yet overtake the path: not stopped.
        if len(losses) > 1 and values[BRANCHES_ALONE] < best_alone:
            best_alone, improved = values[BRANCHES_ALONE], True
        if improved:
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
        best_dropped = bool(history.get(PATH_DROPPED, [0.0])[-1])
    if best_weights is not None:
        model.set_weights(best_weights)
    if best_dropped:
        model.get_layer(LINEAR_OFFSET).keep_branch_alone()
    return history


