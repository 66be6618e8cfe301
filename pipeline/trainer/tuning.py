"""The Tuner's entry point (``tuner_fn``): which carried-state noise (if
any), initial state and sizes suit this data.

Each candidate setting is trained like the Trainer trains (same model, same
fixed linear path, same early stopping) and scored by its best validation
loss, averaged over several runs:

* on the **validation slice** (``--tune-seeds`` runs, one seed each), or
* when the training set is small (fewer than ``cv_below`` sequences or
  windows in train and validation together), by **k-fold
  cross-validation** over all of them: whole sequences per fold,
  stratified by class; windows in contiguous blocks of their order. One
  run per fold, each with its own seed. A validation slice of a few dozen
  sequences cannot tell settings apart; k folds score on every sequence.

The eval split is never read.

Settings come in pairs (`candidate_settings`): each architecture (initial
state, units, convolutional width) noise-free, then with a noise family and
std; so noise is judged against noise-free settings tuned as much. The
choice (`choose_setting`): the lowest mean loss, but a noisy setting only
when it beats the best noise-free one by more than the standard error of
their paired differences (same fold or seed, run by run); else that
noise-free one.
"""

import dataclasses
import itertools
import json
import os
import tempfile
import time

import keras_tuner
import numpy as np
import tensorflow as tf
import tf_keras
from absl import logging
from keras_tuner.engine import base_tuner
from tfx.components.tuner.component import TunerFnResult

from noisy_rnn.pipeline.config import (ModelConfig, TuneConfig,
                                       unsearched_options)
from noisy_rnn.pipeline.trainer import run_fn as trainer
from noisy_rnn.pipeline.trainer import signatures
from noisy_rnn.pipeline.trainer.architecture import build_model
from noisy_rnn.pipeline.trainer.inputs import batched
from noisy_rnn.pipeline.trainer.paired import paired_gain
from noisy_rnn.pipeline.trainer.training import train
from noisy_rnn.schemas.dataset_spec import DatasetSpec

NOISE_OPTIONS = ("noise", "noise_std")
OBJECTIVE = "val_loss"


# --- The candidates ----------------------------------------------------------

def candidate_settings(space, defaults: ModelConfig, fixed, trials, seed):
    """Up to ``trials`` distinct settings (``{option: value}`` of the
    options in ``space`` not in ``fixed``), in pairs when the noise family
    is searched: an architecture noise-free, then the same with noise. The
    first architecture is ``defaults``' (where its values are in the
    space) and its noisy twin ``defaults``' noise; the rest are drawn at
    random (``seed``), without repeats."""
    free = [name for name in space if name not in fixed]
    rng = np.random.default_rng(seed)
    shape = [name for name in free if name not in NOISE_OPTIONS]
    default_shape = tuple(
        getattr(defaults, name) if getattr(defaults, name) in space[name]
        else space[name][0] for name in shape)
    shapes = [s for s in itertools.product(*(space[n] for n in shape))
              if s != default_shape]
    shapes = [default_shape] + [shapes[i] for i in rng.permutation(
        len(shapes))]
    noise_searched = "noise" in free
    family = defaults.noise if "noise" in fixed else None
    if "noise" in fixed and family == "none":
        noisy = []  # noise fixed off: the std means nothing
    else:
        families = ([f for f in space["noise"] if f != "none"]
                    if noise_searched else [family])
        stds = space["noise_std"] if "noise_std" in free else [
            defaults.noise_std]
        noisy = list(itertools.product(families, stds))
        first = (defaults.noise, defaults.noise_std)
        rest = [n for n in noisy if n != first]
        noisy = ([first] if first in noisy else []) + [
            rest[i] for i in rng.permutation(len(rest))]
    settings = []
    for index, values in enumerate(shapes):
        setting = dict(zip(shape, values))
        variants = []
        if noise_searched:
            variants.append({"noise": "none"})
        if noisy:
            family_value, std = noisy[index % len(noisy)]
            variant = {}
            if noise_searched:
                variant["noise"] = family_value
            if "noise_std" in free:
                variant["noise_std"] = std
            variants.append(variant)
        for variant in variants or [{}]:
            candidate = {**setting, **variant}
            if "noise_std" in free and "noise_std" not in candidate:
                candidate["noise_std"] = defaults.noise_std  # unused
            if candidate and candidate not in settings:
                settings.append(candidate)
            if len(settings) == trials:
                return settings
    return settings


def has_noise(setting, defaults: ModelConfig):
    """Whether ``setting`` (on top of ``defaults``) puts noise on the
    carried state."""
    return setting.get("noise", defaults.noise) != "none"


# --- The choice ------------------------------------------------------------

#: The smallest gain, as a fraction of the best noise-free setting's mean
#: loss, for which noise counts as having helped, whatever the standard
#: error: a practical-significance floor. Gains of 0.1-0.3 % of the loss
#: were steady enough across folds to beat the standard error on
#: ItalyPowerDemand yet changed no test prediction; 1 % is a round floor
#: for "a real difference in loss", not fitted to any dataset's runs.
NOISE_MIN_RELATIVE_GAIN = 0.01


def choose_setting(results, defaults: ModelConfig):
    """The chosen result among ``results`` (dicts with ``setting`` and
    ``losses``, one per run, runs paired across results) and why: the
    lowest mean loss, unless that setting is noisy and does not beat the
    best noise-free one by more than the standard error of their paired
    differences and by more than `NOISE_MIN_RELATIVE_GAIN` of its loss;
    then that noise-free one. Returns ``(result, reason, noise_gain)``
    where ``noise_gain`` is the best noisy setting's mean loss below the
    best noise-free one's (None unless both exist)."""
    best = min(results, key=lambda r: np.mean(r["losses"]))
    clean = [r for r in results if not has_noise(r["setting"], defaults)]
    noisy = [r for r in results if has_noise(r["setting"], defaults)]
    runs = len(best["losses"])
    if not clean or not noisy:
        kind = "noise-free" if clean else "noisy"
        return best, (f"lowest mean validation loss of {len(results)} "
                      f"{kind} settings over {runs} runs each"), None
    best_clean = min(clean, key=lambda r: np.mean(r["losses"]))
    best_noisy = min(noisy, key=lambda r: np.mean(r["losses"]))
    gain, error = paired_gain(best_clean["losses"], best_noisy["losses"])
    if gain == 0:
        return best_clean, ("noise made no difference: the best noisy and "
                            "noise-free settings scored the same in every "
                            "run"), gain
    if best is best_clean:
        return best, (f"lowest mean validation loss; the best noisy "
                      f"setting was {-gain:.4g} higher"), gain
    floor = NOISE_MIN_RELATIVE_GAIN * abs(float(np.mean(best_clean["losses"])))
    if gain > error and gain > floor:
        return best, (f"noise helped: mean validation loss {gain:.4g} below "
                      f"the best noise-free setting's, more than the "
                      f"standard error of the paired differences over "
                      f"{runs} runs ({error:.2g}) and more than "
                      f"{NOISE_MIN_RELATIVE_GAIN:.0%} of its loss "
                      f"({floor:.2g})"), gain
    if gain > error:
        return best_clean, (f"noise did not help by a meaningful margin: the "
                            f"best noisy setting was {gain:.4g} lower, beyond "
                            f"the standard error over {runs} runs "
                            f"({error:.2g}) but within "
                            f"{NOISE_MIN_RELATIVE_GAIN:.0%} of the loss "
                            f"({floor:.2g})"), gain
    return best_clean, (f"noise did not help beyond the runs' spread: the "
                        f"best noisy setting was {gain:.4g} lower, within "
                        f"the standard error of the paired differences "
                        f"over {runs} runs ({error:.2g})"), gain


def noise_sentence(summary):
    """One plain sentence on whether noise helped on this data, from a
    `NoiseTuner.summary`."""
    gain = summary.get("noise_gain")
    if gain is None:
        return "Noise was not compared: the search held only noise-free " \
               "or only noisy settings."
    chosen = summary["trials"][summary["chosen"]]
    if gain == 0:
        path_alone = all(step == 0 for trial in summary["trials"]
                         for step in trial.get("kept_steps", [None]))
        return ("Noise made no difference on this data" + (
            ": in every run the linear path alone (before any training "
            "step) scored best, so the recurrent layers, and their noise, "
            "were not used." if path_alone else "."))
    if has_noise(chosen["setting"], ModelConfig(**summary["defaults"])):
        return (f"Noise helped on this data: the chosen noisy setting's "
                f"validation loss was {gain:.4g} below the best "
                f"noise-free one's.")
    if gain > 0:
        return (f"Noise did not help on this data: the best noisy setting "
                f"was {gain:.4g} lower in validation loss, too little to "
                f"count (within the runs' spread or under "
                f"{NOISE_MIN_RELATIVE_GAIN:.0%} of the loss), so a "
                f"noise-free one was chosen.")
    return (f"Noise did not help on this data: the best noisy setting's "
            f"validation loss was {-gain:.4g} higher than the best "
            f"noise-free one's.")


# --- The runs ----------------------------------------------------------------

def arrays_dataset(sequences, labels, offsets=None):
    """``({"values", "mask"[, "offset"]}, label)`` per sequence, as
    `noisy_rnn.pipeline.trainer.inputs.transformed_examples` gives them
    (with `run_fn.with_offsets`), from arrays."""
    channels = sequences[0].shape[1]
    labels = np.asarray(labels)
    spec = {"values": tf.TensorSpec([None, channels], tf.float32),
            "mask": tf.TensorSpec([None], tf.bool)}
    if offsets is not None:
        offsets = np.asarray(offsets, np.float32)
        spec["offset"] = tf.TensorSpec(offsets.shape[1:], tf.float32)

    def generate():
        for index, sequence in enumerate(sequences):
            inputs = {"values": sequence.astype(np.float32),
                      "mask": np.ones(len(sequence), bool)}
            if offsets is not None:
                inputs["offset"] = offsets[index]
            yield inputs, labels[index]

    return tf.data.Dataset.from_generator(generate, output_signature=(
        spec, tf.TensorSpec([], tf.as_dtype(labels.dtype)))).cache()


def cv_folds(labels, folds, stratify, seed):
    """``folds`` index arrays over ``len(labels)`` examples: by class, each
    class's examples shuffled (``seed``) and dealt round-robin
    (``stratify``); else contiguous blocks in order (windows: in time)."""
    count = len(labels)
    if not stratify:
        return [block for block in np.array_split(np.arange(count), folds)]
    rng = np.random.default_rng(seed)
    members = [[] for _ in range(folds)]
    dealt = 0
    for label in np.unique(labels):
        for index in rng.permutation(np.flatnonzero(labels == label)):
            members[dealt % folds].append(index)
            dealt += 1
    return [np.sort(np.asarray(m, int)) for m in members]


@dataclasses.dataclass
class TuningData:
    """What every candidate trains and is scored on: the training and
    validation sequences pooled, the fixed linear path and its offsets,
    and the runs (``(train indices, held-out indices, seed)``)."""

    sequences: list
    labels: np.ndarray
    offsets: object  # np.ndarray, or None without a linear path
    path: object
    runs: list
    protocol: str     # how settings are scored, in words
    num_channels: int
    num_outputs: int
    path_channels: int = 0  # `signatures.path_only_channels`


def runs_for(tune: TuneConfig, config: ModelConfig, train_count,
             validation_count, classification):
    """The runs each setting is scored by, and the protocol in words:
    ``seeds`` runs on the validation slice, or, with fewer than
    ``cv_below`` examples in all (or no validation slice), one run per
    fold of a k-fold cross-validation over them all."""
    total = train_count + validation_count
    if validation_count and total >= tune.cv_below:
        train_rows = np.arange(train_count)
        held = np.arange(train_count, total)
        return ([(train_rows, held, config.seed + i)
                 for i in range(tune.seeds)],
                f"validation slice ({validation_count} examples), "
                f"{tune.seeds} seeds")
    return None, (
        f"{tune.folds}-fold cross-validation over {total} training examples"
        f" ({'stratified by class' if classification else 'contiguous blocks'}"
        f"; fewer than {tune.cv_below}"
        + ("" if validation_count else ", no validation slice") + ")")


def tuning_data(tune: TuneConfig, config: ModelConfig, spec: DatasetSpec,
                train_arrays, validation_arrays, num_outputs):
    """`TuningData` from the `run_fn.as_arrays` pairs of the training and
    validation splits (``validation_arrays`` None without a slice)."""
    validation_arrays = validation_arrays or ([], np.zeros(
        0, train_arrays[1].dtype))
    classification = spec.task == "classification"
    path, train_offsets, validation_offsets = trainer.fit_linear_path(
        config, spec, train_arrays, validation_arrays, num_outputs)
    sequences = train_arrays[0] + validation_arrays[0]
    labels = np.concatenate([train_arrays[1], validation_arrays[1]])
    offsets = None if path is None else np.concatenate(
        [train_offsets, validation_offsets])
    runs, protocol = runs_for(tune, config, len(train_arrays[0]),
                              len(validation_arrays[0]), classification)
    if runs is None:
        folds = cv_folds(labels, tune.folds, classification, config.seed)
        everything = np.arange(len(labels))
        runs = [(np.setdiff1d(everything, held), held, config.seed + i)
                for i, held in enumerate(folds)]
    return TuningData(sequences, labels, offsets, path, runs, protocol,
                      sequences[0].shape[1], num_outputs,
                      signatures.path_only_channels(spec))


def run_loss(config: ModelConfig, data: TuningData, train_rows, held_rows,
             log_dir):
    """Trains ``config``'s model (with the linear path, as the Trainer
    does) on ``train_rows`` and returns its validation loss on
    ``held_rows`` and the step of the round kept (0: the linear path
    alone, before any training step)."""
    tf_keras.backend.clear_session()
    tf_keras.utils.set_random_seed(config.seed)
    model = build_model(config, data.num_channels, data.num_outputs,
                        linear_path=data.path,
                        path_channels=data.path_channels)
    trained = getattr(model, "trained_part", model)

    def subset(rows, training):
        offsets = None if data.offsets is None else data.offsets[rows]
        return batched(arrays_dataset([data.sequences[i] for i in rows],
                                      data.labels[rows], offsets),
                       config.batch_size, training=training, seed=config.seed)

    history = train(trained, subset(train_rows, True),
                    subset(held_rows, False), config, log_dir,
                    evaluate_start=data.path is not None)
    losses = history["val_loss"]
    kept = (int(np.argmin(losses)) if config.early_stopping_patience
            else len(losses) - 1)
    return float(losses[kept]), int(history["step"][kept])


# --- The tuner -----------------------------------------------------------------

class SettingsOracle(keras_tuner.Oracle):
    """Hands out a fixed list of settings, in order (see
    `candidate_settings`)."""

    def __init__(self, settings, hyperparameters):
        super().__init__(
            objective=keras_tuner.Objective(OBJECTIVE, "min"),
            # Always a number: TFX's result writer fails on None
            # (tensorflow/tfx#7778).
            max_trials=len(settings), hyperparameters=hyperparameters,
            allow_new_entries=False, tune_new_entries=False)
        self.settings = settings

    def populate_space(self, trial_id):
        index = len(self.trials)
        if index >= len(self.settings):
            return {"status": keras_tuner.engine.trial.TrialStatus.STOPPED}
        return {"status": keras_tuner.engine.trial.TrialStatus.RUNNING,
                "values": dict(self.settings[index])}


class NoiseTuner(base_tuner.BaseTuner):
    """Scores each setting by ``data``'s runs (`run_loss`); its best
    hyperparameters follow `choose_setting`. Overrides ``run_trial``, so no
    Keras 3 model is ever built (KerasTuner's own tuners need one)."""

    def __init__(self, settings, defaults: ModelConfig, data: TuningData,
                 steps_note, directory, read_validation=True):
        hyperparameters = keras_tuner.HyperParameters()
        for name in settings[0]:
            values = sorted({s[name] for s in settings},
                            key=lambda v: (str(type(v)), v))
            hyperparameters.Choice(name, values, default=settings[0][name])
        super().__init__(SettingsOracle(settings, hyperparameters),
                         directory=directory, project_name="noise_tuner",
                         overwrite=True)
        self.defaults, self.data, self.steps_note = defaults, data, steps_note
        self.results, self.progress_path = [], None
        self.read_validation = read_validation  # the validation slice
        self.started = time.monotonic()

    def run_trial(self, trial, *args, **kwargs):
        del args, kwargs
        setting = dict(trial.hyperparameters.values)
        started, losses, kept = time.monotonic(), [], []
        try:
            for train_rows, held_rows, seed in self.data.runs:
                config = dataclasses.replace(self.defaults, **setting,
                                             seed=seed)
                with tempfile.TemporaryDirectory() as log_dir:
                    loss, step = run_loss(config, self.data, train_rows,
                                          held_rows, log_dir)
                losses.append(loss)
                kept.append(step)
        except Exception as error:  # not a bad trial: a bug; stop the search
            raise keras_tuner.errors.FatalError(
                f"tuning trial {setting}: {error}") from error
        self.results.append({"trial_id": trial.trial_id, "setting": setting,
                             "losses": losses, "kept_steps": kept,
                             "mean": float(np.mean(losses)),
                             "sd": float(np.std(losses, ddof=1)),
                             "seconds": time.monotonic() - started})
        logging.info("tuning trial %d of %d: %s: %s %.4g +- %.2g",
                     len(self.results), len(self.oracle.settings), setting,
                     OBJECTIVE, self.results[-1]["mean"],
                     self.results[-1]["sd"])
        self.write_progress()
        return {OBJECTIVE: float(np.mean(losses))}

    def chosen(self):
        """``(index into results, reason, noise gain)``: `choose_setting`."""
        result, reason, gain = choose_setting(self.results, self.defaults)
        return self.results.index(result), reason, gain

    def get_best_hyperparameters(self, num_trials=1):
        del num_trials  # one choice
        hyperparameters = self.oracle.hyperparameters.copy()
        hyperparameters.values = dict(
            self.results[self.chosen()[0]]["setting"])
        return [hyperparameters]

    def write_progress(self):
        """``progress.json`` for the run's progress monitor: trial N of M
        and the best so far (local folders only)."""
        if not self.progress_path or "://" in self.progress_path:
            return
        best = min(self.results, key=lambda r: r["mean"])
        state = {"trial": len(self.results),
                 "trials": len(self.oracle.settings),
                 "latest": self.results[-1], "best": best}
        with open(self.progress_path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(state, f)
        os.replace(self.progress_path + ".tmp", self.progress_path)

    def summary(self):
        """Everything the report and the run summary show (``tuning.json``).
        """
        index, reason, gain = self.chosen()
        return {"trials": self.results, "chosen": index, "reason": reason,
                "noise_gain": gain, "protocol": self.data.protocol,
                "runs": len(self.data.runs), "steps": self.steps_note,
                "objective": OBJECTIVE,
                "defaults": dataclasses.asdict(self.defaults),
                "seconds": time.monotonic() - self.started}


def tuner_fn(fn_args):
    """TFX Tuner entry point. ``fn_args.custom_config``: ``{"model":
    ModelConfig fields, "dataset": DatasetSpec fields, "tune": TuneConfig
    fields, "explicit": options the user set (not searched)}``. Reads the
    training split and the validation slice (``fn_args.eval_files``, or
    nothing when there is none); never the eval split."""
    custom = fn_args.custom_config
    config = ModelConfig(**custom["model"])
    spec = DatasetSpec.from_dict(custom["dataset"])
    tune = TuneConfig(**custom["tune"])
    tune.validate()
    explicit = set(custom.get("explicit", []))
    if tune.steps:
        config = dataclasses.replace(config, train_steps=tune.steps)
    validation = custom.get("validation", True)
    data = trainer.load_data(fn_args, config, spec, validation=validation)
    config = data.config
    space = {name: [trainer.tuned_value(name, v) for v in values]
             for name, values in tune.space.items()}
    settings = candidate_settings(space, config,
                                  unsearched_options(explicit, config),
                                  tune.trials,
                                  config.seed)
    if not settings:
        raise ValueError(
            f"--tune: nothing to search: every searched option "
            f"({', '.join(space)}) was set explicitly or has no effect")
    tuning = tuning_data(tune, config, spec, data.train_arrays,
                         data.validation_arrays, data.num_outputs)
    logging.info("tuning %d settings by %s", len(settings), tuning.protocol)
    steps_note = (f"{config.train_steps} steps per run"
                  + (" (--tune-steps)" if tune.steps else
                     " (the Trainer's, chosen from the data)"))
    tuner = NoiseTuner(settings, config, tuning, steps_note,
                       fn_args.working_dir or tempfile.mkdtemp(),
                       read_validation=validation)
    # verbose 0: KerasTuner prints no tables (the run shows its own lines).
    return TunerFnResult(tuner=tuner, fit_kwargs={"verbose": 0})
