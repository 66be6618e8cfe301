"""The TFX Trainer's entry point (``run_fn``): build, warm-start, train,
export with noise-free serving signatures, and record what was done."""

import dataclasses
import json
import os

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras
from absl import logging
from tfx.components.trainer.fn_args_utils import FnArgs

from noisy_rnn.pipeline.config import TUNE_SPACE, ModelConfig
from noisy_rnn.pipeline.trainer import (data_defaults, front_end,
                                        linear_paths, signatures)
from noisy_rnn.pipeline.trainer.architecture import build_model
from noisy_rnn.pipeline.trainer.inputs import batched, transformed_examples
from noisy_rnn.pipeline.trainer.serving_reference import \
    write_serving_reference
from noisy_rnn.pipeline.trainer.training import train
from noisy_rnn.pipeline.trainer.warm_start import warm_start
from noisy_rnn.schemas import contracts
from noisy_rnn.schemas.dataset_spec import DatasetSpec


READ_BATCH = 64  # examples per read from the transformed data


def as_arrays(examples):
    """``(sequences, labels)`` of `transformed_examples`: each sequence its
    real steps ``[steps, channels]``, labels as an array."""
    sequences, labels = [], []
    for inputs, label in examples.padded_batch(1024):
        values, mask = inputs["values"].numpy(), inputs["mask"].numpy()
        sequences += [v[m] for v, m in zip(values, mask)]
        labels.append(label.numpy())
    return sequences, (np.concatenate(labels) if labels else np.zeros(
        0, examples.element_spec[1].dtype.as_numpy_dtype))


def choose_from_data(config: ModelConfig, lengths):
    """Resolves the options left to the data (``downsample`` and
    ``train_steps`` 0) from the training sequences' ``lengths``. Returns the
    resolved config and ``{option: {"value", "reason"}}`` for every choice
    made (empty if the user set them all)."""
    choices = {}
    lengths = np.asarray(lengths)
    if config.train_steps == 0:
        steps = data_defaults.choose_train_steps(len(lengths),
                                                 config.batch_size)
        passes = steps * config.batch_size / len(lengths)
        choices["train_steps"] = {
            "value": steps,
            "reason": f"{len(lengths)} training examples in batches of "
                      f"{config.batch_size}: {passes:.0f} passes over them "
                      f"(at least {data_defaults.MIN_PASSES}, within "
                      f"{data_defaults.DEFAULT_STEPS}-"
                      f"{data_defaults.MAX_STEPS} steps)"
                      + ("; early stopping may end training sooner"
                         if config.early_stopping_patience else "")}
        config = dataclasses.replace(config, train_steps=steps)
    if config.downsample == 0:
        factor = front_end.choose_downsampling(lengths)
        typical = np.percentile(lengths, front_end.LENGTH_QUANTILE)
        choices["downsample"] = {
            "value": factor,
            "reason": (
                f"{len(lengths)} training examples of {lengths.min()}-"
                f"{lengths.max()} steps (90th percentile {typical:g}): "
                + ("within" if factor == 1 else "above")
                + f" the recurrent layers' target of "
                f"{front_end.TARGET_STEPS} steps"
                + ("" if factor == 1 else
                   f", so every {factor} steps become one")),
        }
        config = dataclasses.replace(config, downsample=factor)
    for option, choice in choices.items():
        logging.info("chosen from the data: %s = %s (%s)", option,
                     choice["value"], choice["reason"])
    return config, choices


def fit_linear_path(config: ModelConfig, spec, train, validation,
                    num_outputs):
    """The fixed linear path for this task (`linear_paths`), or None when
    turned off: classification a MiniRocket ridge, regression a ridge AR or
    MiniRocket ridge regressor (`regression_path`), each fitted on the
    training and validation sequences with its penalty
    chosen by leave-one-out error; the offsets are its leave-one-out
    outputs. ``train`` and ``validation`` are `as_arrays` pairs
    (``validation`` None without a slice). Returns ``(path, train_offsets,
    validation_offsets)``."""
    validation = validation or ([], np.zeros(0, train[1].dtype))
    sequences = train[0] + validation[0]
    labels = np.concatenate([train[1], validation[1]])
    path = None
    if spec.task == "classification" and config.rocket_features:
        path = linear_paths.fit_rocket_ridge(
            sequences, labels, num_outputs, config.seed,
            config.rocket_features, config.rocket_differences)
    elif spec.task == "regression":
        # Forecasting windows: the slice is the latest of each series.
        path = regression_path(
            config, spec, sequences, labels,
            len(validation[0]) if spec.mode == "windows" else 0)
    if path is None:
        return None, None, None
    logging.info("linear path: %s (%s)", path.choice["value"],
                 path.choice["reason"])
    count = len(train[0])
    return path, path.offsets[:count], path.offsets[count:]


def regression_path(config: ModelConfig, spec, sequences, targets,
                    validation_count=0):
    """The regression task's linear path, or None when turned off: the
    ridge AR over the window (``--autoregressive``; the last
    ``validation_count`` windows are the validation slice, see
    `linear_paths.fit_autoregressive`); and for a target per
    sequence (sequences mode, extrinsic regression), a MiniRocket ridge
    regressor too (``--rocket-features``; the field's standard for it, Tan
    et al. 2021), the one with the lower leave-one-out squared error kept.
    Forecasting windows keep the AR alone (LSTNet's highway)."""
    candidates = []
    if config.autoregressive:
        candidates.append(linear_paths.fit_autoregressive(
            sequences, targets, validation_count))
    if spec.mode == "sequences" and config.rocket_features:
        candidates.append(linear_paths.fit_rocket_ridge(
            sequences, targets, 1, config.seed, config.rocket_features,
            config.rocket_differences, regression=True))
    if not candidates:
        return None
    errors = [float(np.mean((c.offsets[:, 0] - targets) ** 2))
              for c in candidates]
    best = candidates[int(np.argmin(errors))]
    if len(candidates) > 1:
        best.choice = {**best.choice, "reason": best.choice["reason"] + (
            f"; kept over the " + ("MiniRocket ridge" if best is candidates[0]
                                   else "ridge AR") +
            f" by leave-one-out squared error (scaled) "
            f"{min(errors):.3g} against {max(errors):.3g}")}
    return best


def reference_ar(spec, train, validation):
    """Forecasting a channel's own future: the least-squares AR on the
    training and validation windows (`linear_paths.fit_least_squares_ar`)
    the model is compared with; else None."""
    if not spec.forecasts_own_channel:
        return None
    sequences, targets = train
    if validation is not None:
        sequences = sequences + validation[0]
        targets = np.concatenate([targets, validation[1]])
    return linear_paths.fit_least_squares_ar(sequences, targets)


def with_offsets(examples, offsets):
    """`transformed_examples` with the linear path's output for each as a
    third input, ``offset``."""
    if offsets is None:
        return examples
    return tf.data.Dataset.zip(
        (examples, tf.data.Dataset.from_tensor_slices(offsets))).map(
            lambda example, offset: ({**example[0], "offset": offset},
                                     example[1]))


def tuned_value(name, value):
    """A tuned option's value as its `ModelConfig` field's type (KerasTuner
    and JSON may turn integers into floats)."""
    return type(getattr(ModelConfig, name))(value)


def apply_tuned(config: ModelConfig, hyperparameters, explicit):
    """``config`` with the Tuner's best hyperparameters (a KerasTuner
    config, ``fn_args.hyperparameters``) applied, except the ``explicit``
    options, and ``{option: {"value", "reason"}}`` for each applied."""
    values = (hyperparameters or {}).get("values", {})
    tuned = {name: tuned_value(name, value) for name, value in values.items()
             if name in TUNE_SPACE and name not in explicit}
    choices = {name: {"value": value, "reason": "chosen by the Tuner"}
               for name, value in tuned.items()
               if not (name == "noise_std" and
                       tuned.get("noise", config.noise) == "none")}
    for name, choice in choices.items():
        logging.info("tuned: %s = %s", name, choice["value"])
    return dataclasses.replace(config, **tuned), choices


@dataclasses.dataclass
class TrainingData:
    """The Trainer's (and the Tuner's) view of its inputs, read once."""

    config: ModelConfig   # with the options left to the data resolved
    choices: dict         # those choices, for data_choices.json
    tf_transform_output: object
    class_names: list
    train_examples: object       # `transformed_examples`, cached
    validation_examples: object  # or None without a validation slice
    train_arrays: tuple          # `as_arrays`
    validation_arrays: object    # `as_arrays`, or None

    @property
    def num_outputs(self):
        return len(self.class_names) or 1


def load_data(fn_args, config: ModelConfig, spec, validation=True):
    """Reads the training split (``fn_args.train_files``) and, with
    ``validation``, the validation slice (``fn_args.eval_files``) through
    the Transform graph, and resolves the options left to the data (see
    `choose_from_data`).

    Without a slice (``validation_fraction`` 0: ``eval_files`` are the
    training split again) or with an empty one (too few training sequences
    to spare one, e.g. one per class), there is none: eval rounds score the
    training data, early stopping is off (the last round is kept, as
    ``--early-stopping-patience 0``), and for an empty slice the run
    records why (``choices["early_stopping_patience"]``)."""
    tf_transform_output = tft.TFTransformOutput(
        fn_args.transform_graph_path or fn_args.transform_output)
    class_names = []
    if spec.task == "classification":
        class_names = [c.decode() if isinstance(c, bytes) else c for c in
                       tf_transform_output.vocabulary_by_name(
                           contracts.LABEL_VOCABULARY)]
    config = dataclasses.replace(
        config, train_steps=fn_args.train_steps or config.train_steps)
    # Transformed once, cached: read by the data-chosen options and the
    # linear path's fit, then by training.
    train_examples = transformed_examples(
        fn_args.train_files, fn_args.data_accessor, tf_transform_output, spec,
        READ_BATCH)
    validation_examples = validation_arrays = None
    if validation and config.validation_fraction:
        validation_examples = transformed_examples(
            fn_args.eval_files, fn_args.data_accessor, tf_transform_output,
            spec, READ_BATCH)
        validation_arrays = as_arrays(validation_examples)
    train_arrays = as_arrays(train_examples)
    empty = {}
    if validation_arrays is not None and not validation_arrays[0]:
        validation_examples = validation_arrays = None
        if config.early_stopping_patience:
            empty["early_stopping_patience"] = {
                "value": 0,
                "reason": f"the validation slice is empty: "
                          f"{len(train_arrays[0])} training sequences leave "
                          f"none to spare at --validation-fraction "
                          f"{config.validation_fraction:g} (each class keeps "
                          f"one); rounds are scored on the training data "
                          f"and the last one is kept"}
            config = dataclasses.replace(config, early_stopping_patience=0)
    config, choices = choose_from_data(config,
                                       [len(s) for s in train_arrays[0]])
    choices.update(empty)
    return TrainingData(config, choices, tf_transform_output, class_names,
                        train_examples, validation_examples, train_arrays,
                        validation_arrays)


def run_fn(fn_args: FnArgs):
    """Trains (early stopping on the validation slice carved from train,
    ``fn_args.eval_files``, unless turned off) and exports the model with
    noise-free serving signatures (TFX Trainer entry point). The eval split
    never reaches the Trainer.

    ``fn_args.custom_config``: ``{"model": ModelConfig fields, "dataset":
    DatasetSpec fields, "explicit": the options the user set}``; with a
    Tuner, ``fn_args.hyperparameters`` (its choice) overrides the model
    fields the user did not set.
    """
    config = ModelConfig(**fn_args.custom_config["model"])
    spec = DatasetSpec.from_dict(fn_args.custom_config["dataset"])
    config, tuned = apply_tuned(
        config, fn_args.hyperparameters,
        fn_args.custom_config.get("explicit", []))
    tf_keras.utils.set_random_seed(config.seed)
    data = load_data(fn_args, config, spec)
    config, choices = data.config, {**tuned, **data.choices}
    tf_transform_output, class_names = (data.tf_transform_output,
                                        data.class_names)
    train_examples, validation_examples = (data.train_examples,
                                           data.validation_examples)
    num_outputs = data.num_outputs
    path, train_offsets, validation_offsets = fit_linear_path(
        config, spec, data.train_arrays, data.validation_arrays,
        num_outputs)
    if validation_examples is None:  # rounds scored on the training data
        validation_examples, validation_offsets = (train_examples,
                                                   train_offsets)
    if path is not None:  # under the option that turns it off
        choices["rocket_features" if isinstance(
            path.layer, linear_paths.RocketRidge) else
                "autoregressive"] = path.choice
    model = build_model(config, len(signatures.model_channels(spec)),
                        num_outputs, linear_path=path,
                        path_channels=signatures.path_only_channels(spec))
    # What training updates (and warm starts): without the fixed linear
    # path, which is fitted anew on every run's data.
    trained = getattr(model, "trained_part", model)

    started = warm_start(trained, fn_args.base_model)
    logging.info("warm start: %s", started)
    train_data = batched(with_offsets(train_examples, train_offsets),
                         config.batch_size, training=True, seed=config.seed)
    validation_data = batched(
        with_offsets(validation_examples, validation_offsets),
        config.batch_size, training=False)
    # With a linear path, the path alone (where training starts) is the
    # first candidate: kept if no trained round beats it on validation.
    history = train(trained, train_data, validation_data, config,
                    fn_args.model_run_dir, evaluate_start=path is not None)

    # Layer traces are not needed to serve or evaluate: the signatures are.
    model.save(fn_args.serving_model_dir, save_format="tf", save_traces=False,
               signatures=signatures.make_serving_signatures(
                   model, tf_transform_output, spec, class_names,
                   reference_ar(spec, data.train_arrays,
                                data.validation_arrays)))
    with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir,
                                        contracts.HISTORY_FILE), "w") as f:
        json.dump(history, f)
    trained.save_weights(os.path.join(
        os.path.dirname(fn_args.serving_model_dir),
        contracts.WARM_START_WEIGHTS))
    for name, values in (
            (contracts.MODEL_CONFIG_FILE, dataclasses.asdict(config)),
            (contracts.WARM_START_FILE, started),
            (contracts.DATA_CHOICES_FILE, choices)):
        with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, name),
                               "w") as f:
            json.dump(values, f)
    write_serving_reference(
        model, (fn_args.eval_files if data.validation_arrays is not None
                else fn_args.train_files), tf_transform_output, spec,
        os.path.join(fn_args.model_run_dir, contracts.SERVING_REFERENCE_DIR))
