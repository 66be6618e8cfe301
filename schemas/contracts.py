"""Names that components and tools exchange: file names inside artifacts,
MLMD custom-property keys, serving signature and output names, and the
Transform output names the Trainer and the Evaluator read.

One module, imported by both sides of each exchange (no TensorFlow here), so
a renamed file or key cannot drift apart between writer and reader. The
ServingValidator's clean process cannot import the project; its copies
(`noisy_rnn.components.serving_validator.clean_check`) are held equal to
these by a unit test.
"""

import os

# --- Serving signatures and their outputs -----------------------------------
SERVING_DEFAULT = "serving_default"      # examples: serialized tf.Example
SERVING_SEQUENCES = "serving_sequences"  # values [batch, time, chan.], lengths
# Short names (what `noisy-rnn predict --signature` takes) -> signature keys.
SIGNATURES = {"examples": SERVING_DEFAULT, "sequences": SERVING_SEQUENCES}
EXAMPLES_INPUT = "examples"
VALUES_INPUT, LENGTHS_INPUT = "values", "lengths"
PROBABILITIES, CLASS_IDS, CLASSES = "probabilities", "class_ids", "classes"
PREDICTION = "prediction"                # regression, in the target's units
# Forecasting a channel's own future: a least-squares linear AR's forecast
# of the same window (fitted on the training windows), the reference the
# Evaluator's ``mae_vs_ar`` compares the model with.
LEAST_SQUARES_AR = "least_squares_ar"
# TF Serving warmup requests inside a SavedModel.
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")

# ServingValidator latency budgets (ms) unless set (CLI --latency-budget).
DEFAULT_LATENCY_BUDGETS_MS = {"p50_batch_1": 20.0, "p99_batch_1": 50.0,
                              "p50_batch_64": 60.0, "p99_batch_64": 150.0}

# --- Transform outputs (preprocessing_fn -> Trainer, Evaluator) -------------
LABEL_KEY = "label_xf"            # class id (classification) or scaled target
LABEL_MEAN_KEY = "label_mean_xf"  # regression: target = label_xf * std + mean
LABEL_STD_KEY = "label_std_xf"
LABEL_VOCABULARY = "label_vocabulary"


# With ``forecast_change``: the anchored channel's level (each window's last
# value of it), z-scored, one more model channel after the features (see
# `noisy_rnn.pipeline.trainer.preprocessing`). Reserved as a feature name.
LEVEL_CHANNEL = "anchor_level"


def transformed_name(feature):
    """The Transform output holding the z-scored ``feature``."""
    return f"{feature}_xf"


# --- Files the Trainer writes ------------------------------------------------
# In the ModelRun artifact:
MODEL_CONFIG_FILE = "model_config.json"   # the ModelConfig that was trained
WARM_START_FILE = "warm_start.json"       # where training started, and why
DATA_CHOICES_FILE = "data_choices.json"   # settings chosen from the data
HISTORY_FILE = "history.json"             # eval rounds: step, losses, metric
# ... and, beside a linear path, each candidate's validation loss (not
# ``val_``-prefixed: the console shows those) and where the path was dropped.
HISTORY_WITH_PATH = "with_path_val_loss"
HISTORY_BRANCHES_ALONE = "branches_alone_val_loss"
HISTORY_PATH_DROPPED = "path_dropped"     # 1.0: the branches alone kept
PROGRESS_FILE = "progress.json"           # while training: step of total
SERVING_REFERENCE_DIR = "serving_reference"  # read by the ServingValidator
REFERENCE_EXAMPLES_FILE = "examples.tfrecord"
REFERENCE_OUTPUTS_FILE = "outputs.npz"
# In the Model artifact, beside Format-Serving (read by the next warm start):
WARM_START_WEIGHTS = os.path.join("warm_start", "weights")

# --- Files the Tuner writes into its TunerResults ----------------------------
TUNING_FILE = "tuning.json"          # every trial's runs, the choice and why
TUNING_PROGRESS_FILE = "progress.json"  # while searching: trial N of M

# --- Files the ServingValidator writes into its InfraBlessing ---------------
SERVING_REPORT_JSON = "report.json"
SERVING_REPORT_TEXT = "report.txt"
# serving_default's outputs on every eval example (the run report's
# predictions): {"examples": count, "outputs": {output name: [values]}}.
SERVING_EVAL_OUTPUTS = "eval_outputs.json"

# --- MLMD custom properties --------------------------------------------------
BLESSED = "blessed"                      # ModelBlessing / InfraBlessing: 0|1
CURRENT_MODEL_ID = "current_model_id"    # the blessed Model's id
BASELINE_MODEL_ID = "baseline_model_id"  # ModelBlessing: the baseline's id
HAS_MODEL = "has_model"                  # InfraBlessing carries its model
PUSHED = "pushed"                        # PushedModel: 0|1
PUSHED_DESTINATION = "pushed_destination"
SPAN = "span"                            # Examples: the span read
SPANS = "spans"                          # Examples: "3,4", a span window's
# Example features besides the channels and the label (SequenceExampleGen).
SEQUENCE_ID_FEATURE = "sequence_id"      # bytes: the sequence / series id
TARGET_STEP_FEATURE = "target_step"      # windows mode: step of the target
SKIPPED_WINDOWS = "skipped_windows"      # Examples: windows with gaps
# The split carved from train for the Trainer's model selection.
VALIDATION_SPLIT = "validation"

# --- Drift gate --------------------------------------------------------------
DRIFT_REPORT_FILE = "drift.json"          # in the DriftGate's report artifact
# In <output>/: the schema every run validates against once a model is
# pushed, when the spec has no curated schema (frozen from the first push).
FROZEN_SCHEMA_DIR = "frozen_schema"
SCHEMA_FILE = "schema.pbtxt"
