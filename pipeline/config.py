"""Pipeline settings: one dataclass, with defaults for the JapaneseVowels run."""

import dataclasses
import os
from typing import Dict, List, Optional, Union

from noisy_rnn.schemas import contracts
from noisy_rnn.schemas.dataset_spec import load_spec

# Mirrors layers.noise (not imported: it loads TensorFlow, and the CLI builds
# its parser from ModelConfig on every call, --help included).
CELLS = ("gru", "lstm")
NOISE_CHOICES = ("none", "additive", "multiplicative")
INITIAL_STATES = ("zeros", "trainable")

# Where `pip install` puts this package in gcr.io/tfx-oss-public/tfx:1.16.0
# (conda Python 3.10), for compiled pipelines; print it in your image with:
# python -c "import noisy_rnn; print(list(noisy_rnn.__path__)[0])".
PACKAGE_IN_IMAGE = "/opt/conda/lib/python3.10/site-packages/noisy_rnn"

# Beam's own defaults (DirectRunner, in memory, one worker). Kept empty:
# with no Beam arguments at all TFX does not package itself for workers.
DEFAULT_BEAM_ARGS = ()


@dataclasses.dataclass
class ModelConfig:
    """What the Trainer builds (see
    `noisy_rnn.pipeline.trainer.architecture.build_model`)."""

    cell: str = "gru"
    units: int = 64
    layers: int = 1
    initial_state: str = "trainable"
    # Noise on the carried state: off by default, because tuned with and
    # without it (docs/tuning.md) it never beat the noise-free settings by
    # more than the runs' spread on the data measured. --tune lets the
    # data decide; --noise additive|multiplicative turns it on.
    noise: str = "none"
    noise_std: float = 0.3  # when noise is on
    noise_std_trainable: bool = False
    # Long sequences: every `downsample` steps become one (a learned,
    # masking-aware strided convolution) before the recurrent layers.
    # 0: chosen by the Trainer from the training lengths (1 unless their
    # 90th percentile exceeds 100 steps; see
    # `noisy_rnn.pipeline.trainer.front_end`); 1: none.
    downsample: int = 0
    # Width of a convolutional branch beside the recurrent layers (two
    # masked Conv1D, kernels 5 and 3, ReLU, mean over the steps; its features
    # join the recurrent output before the head); 0: none.
    conv_filters: int = 64
    # Classification: a fixed bank of this many MiniRocket features (random
    # dilated convolutions, PPV pooled) with a ridge classifier fitted in
    # closed form, beside the recurrent layers, which learn a correction to
    # its logits (see `noisy_rnn.pipeline.trainer.linear_paths`); 0: none.
    rocket_features: int = 10000
    # Half of those features on the first differences of each sequence
    # (MultiRocket's second representation).
    rocket_differences: bool = False
    # Regression: a least-squares linear autoregressive path over each
    # window, which the recurrent layers correct; False: none.
    autoregressive: bool = True
    label_smoothing: float = 0.1  # classification only; 0: none
    # Evaluate and export an exponential moving average of the weights with
    # this decay; 0: the weights as trained.
    ema_decay: float = 0.99
    batch_size: int = 32
    learning_rate: float = 3e-3
    # 0: chosen by the Trainer from the number of training examples (600,
    # more for large training sets: 10 passes over the data, at most 3000;
    # see `noisy_rnn.pipeline.trainer.data_defaults`). Early stopping may
    # end training sooner.
    train_steps: int = 0
    eval_every: int = 50
    # Rounds without a lower validation loss before training stops; the
    # best round's weights are kept. 0: no early stopping, the last weights
    # are kept.
    early_stopping_patience: int = 4
    # Share of the training examples held out as the validation slice that
    # early stopping watches (SequenceExampleGen's ``validation`` split: by
    # sequence, stratified by class, or the latest windows in time). The
    # eval split is never used to choose the model. 0: no slice (needs
    # early_stopping_patience 0; the rounds are then logged on train).
    validation_fraction: float = 0.15
    seed: int = 0  # weights, batches and the validation slice

    def validate(self):
        """ValueError naming the option at fault."""
        def fail(name, problem):
            raise ValueError(f"model option --{name.replace('_', '-')}: "
                             f"{problem}")
        if self.cell not in CELLS:
            fail("cell", f"must be one of {CELLS}, got {self.cell!r}")
        if self.noise not in NOISE_CHOICES:
            fail("noise", f"must be one of {NOISE_CHOICES}, got {self.noise!r}")
        if self.initial_state not in INITIAL_STATES:
            fail("initial_state", f"must be one of {INITIAL_STATES}, got "
                                  f"{self.initial_state!r}")
        for name in ("units", "batch_size", "eval_every"):
            if getattr(self, name) < 1:
                fail(name, f"must be >= 1, got {getattr(self, name)}")
        if self.layers < 0:
            fail("layers", f"must be >= 0 (0: no recurrent branch), got "
                           f"{self.layers}")
        if self.rocket_features < 0:
            fail("rocket_features", f"must be >= 0 (0: none), got "
                                    f"{self.rocket_features}")
        if self.train_steps < 0:
            fail("train_steps", f"must be >= 0 (0: chosen from the data), "
                                f"got {self.train_steps}")
        if self.downsample < 0:
            fail("downsample", f"must be >= 0 (0: chosen from the data, 1: "
                               f"none), got {self.downsample}")
        if self.early_stopping_patience < 0:
            fail("early_stopping_patience",
                 f"must be >= 0 (0: off), got {self.early_stopping_patience}")
        if not 0 <= self.validation_fraction < 1:
            fail("validation_fraction", f"must be in [0, 1), got "
                                        f"{self.validation_fraction}")
        if not self.validation_fraction and self.early_stopping_patience:
            fail("validation_fraction",
                 "0 leaves early stopping nothing to watch but the eval "
                 "split, which is kept for the Evaluator: also pass "
                 "--early-stopping-patience 0")
        if not self.noise_std >= 0:
            fail("noise_std", f"must be >= 0, got {self.noise_std}")
        if self.conv_filters < 0:
            fail("conv_filters", f"must be >= 0, got {self.conv_filters}")
        if not 0 <= self.label_smoothing < 1:
            fail("label_smoothing", f"must be in [0, 1), got "
                                    f"{self.label_smoothing}")
        if not 0 <= self.ema_decay < 1:
            fail("ema_decay", f"must be in [0, 1), got {self.ema_decay}")
        if not self.learning_rate > 0:
            fail("learning_rate", f"must be > 0, got {self.learning_rate}")


# What the Tuner may search (`noisy_rnn.pipeline.trainer.tuning`), per
# ModelConfig field. "none" is always among the noise families: noise must
# beat the noise-free settings to be chosen.
TUNE_SPACE = {
    "noise": ("none", "additive", "multiplicative"),
    "noise_std": (0.03, 0.1, 0.3),
    "initial_state": INITIAL_STATES,
    "units": (32, 64, 128),
    "conv_filters": (0, 32, 64, 128),
}


@dataclasses.dataclass
class TuneConfig:
    """The Tuner's budget and search space (``--tune``; see
    `noisy_rnn.pipeline.trainer.tuning`)."""

    trials: int = 6      # settings tried (in noise-free / noisy pairs)
    seeds: int = 2       # training runs per setting on the validation slice
    # Training steps per run; 0: the Trainer's (chosen from the data).
    steps: int = 0
    # Fewer training sequences than this (train and validation slice
    # together): each setting is scored by k-fold cross-validation over
    # them instead (one run per fold, each with its own seed).
    cv_below: int = 500
    folds: int = 3
    # Values tried per option (`TUNE_SPACE`'s by default).
    space: Dict[str, list] = dataclasses.field(
        default_factory=lambda: {k: list(v) for k, v in TUNE_SPACE.items()})

    def validate(self):
        """ValueError naming the option at fault."""
        def fail(name, problem):
            raise ValueError(f"tuning option --tune-{name.replace('_', '-')}"
                             f": {problem}")
        for name, least in (("trials", 1), ("seeds", 2), ("folds", 2)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or \
                    value < least:
                fail(name, f"must be an integer >= {least}, got {value!r}")
        for name in ("steps", "cv_below"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or \
                    value < 0:
                fail(name, f"must be an integer >= 0, got {value!r}")
        unknown = sorted(set(self.space) - set(TUNE_SPACE))
        if unknown:
            fail(unknown[0], f"not a searched option (searched: "
                             f"{', '.join(TUNE_SPACE)})")
        for name, values in self.space.items():
            if not isinstance(values, (list, tuple)) or not values:
                fail(name, f"must be a non-empty list, got {values!r}")
            for value in values:
                if name in ("noise", "initial_state"):
                    if value not in TUNE_SPACE[name]:
                        fail(name, f"{value!r} is not one of "
                                   f"{', '.join(TUNE_SPACE[name])}")
                elif isinstance(value, bool) or \
                        not isinstance(value, (int, float)):
                    fail(name, f"{value!r} is not a number")
                elif name == "noise_std" and not value > 0:
                    fail(name, f"must be > 0, got {value}")
                elif name == "units" and (value < 1 or value != int(value)):
                    fail(name, f"must be whole numbers >= 1, got {value}")
                elif name == "conv_filters" and (
                        value < 0 or value != int(value)):
                    fail(name, f"must be whole numbers >= 0, got {value}")
        if "none" not in self.space.get("noise", ["none"]):
            self.space["noise"] = ["none"] + list(self.space["noise"])


def unsearched_options(explicit, model: ModelConfig):
    """The options a Tuner leaves as they are: those the user set
    (``explicit``) and those without effect on ``model`` (the noise std
    with noise set off; the recurrent options with ``--layers 0``)."""
    fixed = set(explicit)
    if "noise" in fixed and model.noise == "none":
        fixed.add("noise_std")
    if not model.layers:  # no recurrent layer: no state, no noise
        fixed |= {"noise", "noise_std", "initial_state", "units"}
    return fixed


def _absolute(path):
    """Absolute local path; URIs (gs://, s3://, hdfs://) unchanged."""
    return path if "://" in path else os.path.abspath(path)


@dataclasses.dataclass
class PipelineConfig:
    """Everything `create_pipeline` needs.

    ``output`` holds the pipeline root, the MLMD SQLite store and the pushed
    models (``<output>/serving/<model_name>/<version>/``).
    """

    dataset: str
    output: str
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    pipeline_name: Optional[str] = None
    model_name: Optional[str] = None
    min_accuracy: float = 0.5       # classification blessing threshold
    max_mae: Optional[float] = None  # regression blessing threshold
    # Forecasting a channel's own future: bless only a model whose eval MAE
    # is below persistence's (and seasonal-naive's if the spec has a season).
    beat_naive: bool = True
    enable_cache: bool = True
    # The Trainer's entry point (module path): swap in your own model code.
    run_fn: str = "noisy_rnn.pipeline.trainer.run_fn.run_fn"
    # A folder of span-<N>/ folders of CSVs (TFX {SPAN}): read the latest
    # span instead of the spec's CSV.
    spans_dir: Optional[str] = None
    # Read the latest K spans of spans_dir as one dataset (disjoint spans),
    # not only the latest; None: the spec's ``spans_window`` key with a
    # spans_dir, else 1.
    spans_window: Optional[int] = None
    # Trainer starts from the latest pushed model, if any.
    warm_start: bool = False
    # A Tuner before the Trainer: a TuneConfig (True: the default one),
    # False: none, None: as the spec's ``tune`` key says (none without it).
    tune: Union[None, bool, TuneConfig] = None
    # ModelConfig fields the user set: the Tuner leaves them as set.
    explicit_options: List[str] = dataclasses.field(default_factory=list)
    # ServingValidator latency budgets (ms); unset keys keep its defaults.
    latency_budgets_ms: Optional[Dict[str, float]] = None
    beam_pipeline_args: List[str] = dataclasses.field(
        default_factory=lambda: list(DEFAULT_BEAM_ARGS))
    # How Beam workers get this project's code (see
    # `noisy_rnn.pipeline.pipeline.beam_args`): a built wheel (``.whl``,
    # shipped as --extra_package) or a checkout's ``setup.py``
    # (--setup_file). Needed by remote runners (Flink, Spark, Dataflow), not
    # by the DirectRunner, whose workers are this machine's processes.
    worker_package: Optional[str] = None
    # The Beam workers are processes of this environment (the local Flink
    # cluster's worker pool, see `noisy_rnn.pipeline.ops.flink_cluster`):
    # they import the installed package, so no worker package is needed.
    workers_local: bool = False
    # Beam components kept on the DirectRunner (in this process) when the
    # runner is another, e.g. ["Evaluator"]: for a component a cluster
    # cannot run.
    direct_components: List[str] = dataclasses.field(default_factory=list)

    def __post_init__(self):
        self.spec = load_spec(self.dataset)  # a path or a bundled name
        self.dataset = self.spec.path
        self.output = _absolute(self.output)
        if self.spans_dir:
            self.spans_dir = _absolute(self.spans_dir)
        if self.spans_window is None:  # the spec's, where spans are read
            self.spans_window = (self.spec.spans_window or 1
                                 if self.spans_dir else 1)
        if (isinstance(self.spans_window, bool) or
                not isinstance(self.spans_window, int) or
                self.spans_window < 1):
            raise ValueError(f"--spans-window: must be a positive integer, "
                             f"got {self.spans_window!r}")
        if self.spans_window > 1 and not self.spans_dir:
            raise ValueError(f"--spans-window {self.spans_window}: needs "
                             f"--spans-dir (a folder of span-<N>/ folders)")
        if self.worker_package:
            self.worker_package = _absolute(self.worker_package)
        self.pipeline_name = self.pipeline_name or self.spec.name
        self.model_name = self.model_name or self.spec.name
        self.model.validate()
        if self.tune is None and self.spec.tune is not None:
            self.tune = TuneConfig(**self.spec.tune)
        elif self.tune is True:
            self.tune = TuneConfig()
        if not self.tune:  # None or False
            self.tune = None
        else:
            self.tune.validate()
            if not self.searched_options():
                raise ValueError(
                    f"--tune: nothing to search: every searched option "
                    f"({', '.join(self.tune.space)}) was set explicitly or "
                    f"has no effect on this model")

    def searched_options(self):
        """The options the Tuner searches (see `unsearched_options`)."""
        fixed = unsearched_options(self.explicit_options, self.model)
        return [name for name in self.tune.space if name not in fixed]

    @property
    def pipeline_root(self):
        return os.path.join(self.output, "pipeline_root")

    @property
    def metadata_path(self):
        return os.path.join(self.output, "metadata.sqlite")

    @property
    def frozen_schema_path(self):
        """Where the schema of the first pushed model's run is kept when the
        spec has no curated schema: every later run validates against it."""
        return os.path.join(self.output, contracts.FROZEN_SCHEMA_DIR,
                            contracts.SCHEMA_FILE)

    @property
    def schema_file(self):
        """The schema this run imports: the spec's curated one, else the
        frozen one (once a model was pushed), else None (SchemaGen infers
        one from the data)."""
        if self.spec.schema:
            return self.spec.schema
        if os.path.isfile(self.frozen_schema_path):
            return self.frozen_schema_path
        return None

    @property
    def serving_dir(self):
        return os.path.join(self.output, "serving", self.model_name)
