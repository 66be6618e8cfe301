"""Dataset specifications: ``schemas/<name>/dataset.yaml``.

A spec tells the pipeline how to turn a long CSV (one row per time step) into
examples. Keys:

``name``           dataset name (used for the pushed model's name)
``csv``            path of the CSV, relative to the spec file
``mode``           ``sequences`` (rows sharing ``sequence_id`` form one
                   example) or ``windows`` (sliding windows over each series)
``sequence_id``    column naming the sequence / series of a row
``step``           integer column ordering rows within a sequence
``features``       list of numeric columns fed to the model
``label``          class column (classification) or target column (regression)
``task``           ``classification`` or ``regression``
``split``          ``{column: NAME}`` (values ``train``/``eval``) or
                   ``{eval_fraction: F}`` (the latest fraction in time is eval)
``window``         windows mode: steps per window
``horizon``        windows mode: the target is ``label`` this many steps after
                   the window's last step
``stride``         windows mode: steps between window starts (default 1)
``schema``         optional curated TFMD schema, relative to the spec
                   (default ``schema.pbtxt`` next to the spec, if present)
``forecast_change`` windows mode, regression, ``label`` among ``features``:
                   ``true`` feeds the label's channel relative to each
                   window's last value and trains the model on the change
                   from it (serving adds the last value back). For trending
                   series, whose future lies outside the training range.
                   Default ``true`` when the label is among the features
                   (a forecast of a channel's own future), else ``false``.
``season``         windows mode, regression, ``label`` among ``features``:
                   the season's length in steps (e.g. 52 for weekly data
                   with a yearly cycle). The Evaluator then also computes
                   the seasonal-naive forecast (the value one season before
                   the target) and blesses only a model that beats it, as it
                   does persistence. Needs ``horizon <= season <= window +
                   horizon - 1`` (that value must lie in the window).
``drift_thresholds`` ``{feature or label: number >= 0}``: the DriftGate's
                   threshold for that feature instead of its default
                   (Jensen-Shannon divergence 0.2 for numeric features,
                   L-infinity distance 0.3 for a class label); see
                   ``noisy_rnn.components.drift_gate.drift``.
``tune``           ``true``, or the Tuner's budget and search space
                   (``{trials: 8, seeds: 2, steps: 300, noise_std: [0.05,
                   0.1]}``, keys of ``noisy_rnn.pipeline.config.TuneConfig``
                   and its ``space``): a Tuner chooses the noise and sizes
                   before the Trainer, as ``--tune`` does.
``spans_window``   with ``--spans-dir``: train on the latest K spans (disjoint
                   deliveries, each only its own steps) instead of the latest
                   one, as ``--spans-window K`` does (which wins).

`load_spec` validates all of it and raises `SpecError` naming the file, the
line and the key at fault.
"""

import csv
import dataclasses
import io
import os
from typing import Dict, List, Optional

import yaml

from noisy_rnn.schemas import contracts

MODES = ("sequences", "windows")
TASKS = ("classification", "regression")
SPLIT_VALUES = ("train", "eval")
REQUIRED_KEYS = ("name", "csv", "mode", "sequence_id", "step", "features",
                 "label", "task", "split")
WINDOW_KEYS = ("window", "horizon", "stride")
OPTIONAL_KEYS = WINDOW_KEYS + ("schema", "forecast_change", "season",
                               "drift_thresholds", "tune", "spans_window")


class SpecError(ValueError):
    """A dataset spec (or its CSV header) is invalid."""


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """A validated ``dataset.yaml``; paths are absolute."""

    name: str
    csv: str
    mode: str
    sequence_id: str
    step: str
    features: List[str]
    label: str
    task: str
    split_column: Optional[str] = None
    eval_fraction: Optional[float] = None
    window: Optional[int] = None
    horizon: Optional[int] = None
    stride: int = 1
    schema: Optional[str] = None
    forecast_change: bool = False
    season: Optional[int] = None
    # Per feature (or label), the DriftGate's threshold instead of its
    # default for the feature's measure.
    drift_thresholds: Dict[str, float] = dataclasses.field(
        default_factory=dict)
    # The ``tune`` key as `TuneConfig` fields (None: no Tuner).
    tune: Optional[dict] = None
    # How many of the latest spans to train on (None: the latest only).
    spans_window: Optional[int] = None
    path: str = ""

    def to_dict(self):
        """JSON-able form, for component exec properties. Without
        ``drift_thresholds``: only the DriftGate reads them (as its own
        parameter), so changing one does not invalidate the cache of
        SequenceExampleGen or the Trainer; likewise without ``tune`` and
        ``spans_window`` (SequenceExampleGen gets the window resolved)."""
        values = dataclasses.asdict(self)
        del values["drift_thresholds"], values["tune"], values["spans_window"]
        return values

    @classmethod
    def from_dict(cls, values):
        """Inverse of `to_dict`; also accepts the JSON/Struct round trip, which
        turns integers into floats."""
        values = dict(values)
        for key in ("window", "horizon", "stride", "season"):
            if values.get(key) is not None:
                values[key] = int(values[key])
        return cls(**values)

    @property
    def forecasts_own_channel(self):
        """Windows-mode regression of a channel's own future (the label is
        among the features): naive forecasts then exist (persistence,
        seasonal-naive)."""
        return (self.mode == "windows" and self.task == "regression" and
                self.label in self.features)

    @property
    def label_feature(self):
        """The examples' label feature: ``label``, or ``<label>_target`` when
        the label column is also a feature (forecasting a channel)."""
        if self.label in self.features:
            return f"{self.label}_target"
        return self.label


def _key_lines(text):
    """Maps each top-level key of a YAML mapping to its 1-based line, and
    each key of a nested mapping to its line as ``parent.key``."""
    node = yaml.compose(text)
    if not isinstance(node, yaml.MappingNode):
        return {}
    lines = {}
    for key, value in node.value:
        lines[key.value] = key.start_mark.line + 1
        if isinstance(value, yaml.MappingNode):
            for inner, _ in value.value:
                lines[f"{key.value}.{inner.value}"] = inner.start_mark.line + 1
    return lines


# Bundled datasets: ``<name>/dataset.yaml`` beside this module (package
# data, their CSVs under ``noisy_rnn/data/``), addressable by name.
BUNDLED_DIR = os.path.dirname(os.path.abspath(__file__))
SPEC_FILE = "dataset.yaml"


def bundled_datasets():
    """Names of the datasets shipped with the package, sorted."""
    return sorted(name for name in os.listdir(BUNDLED_DIR)
                  if os.path.isfile(os.path.join(BUNDLED_DIR, name,
                                                 SPEC_FILE)))


def resolve_dataset(dataset):
    """The spec file that ``dataset`` names: an existing spec file, a folder
    holding ``dataset.yaml``, or the name of a bundled dataset (a path
    wins over a name). SpecError listing the bundled names otherwise."""
    if os.path.isfile(dataset):
        return os.path.abspath(dataset)
    if os.path.isfile(os.path.join(dataset, SPEC_FILE)):
        return os.path.abspath(os.path.join(dataset, SPEC_FILE))
    if dataset in bundled_datasets():
        return os.path.join(BUNDLED_DIR, dataset, SPEC_FILE)
    raise SpecError(f"dataset {dataset!r}: no such spec file, and not a "
                    f"bundled dataset (bundled: "
                    f"{', '.join(bundled_datasets())}); give a path to a "
                    f"dataset.yaml or one of those names")


def load_spec(path, check_csv=True):
    """Reads, validates and returns the `DatasetSpec` at ``path`` (a spec
    file, a folder holding ``dataset.yaml``, or a bundled dataset's name;
    see `resolve_dataset`).

    With ``check_csv``, also checks that the CSV exists and its header has
    every column the spec names.
    """
    path = resolve_dataset(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        values = yaml.safe_load(text)
    except OSError as error:
        raise SpecError(f"{path}: cannot read dataset spec: {error}") from None
    except yaml.YAMLError as error:
        raise SpecError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(values, dict):
        raise SpecError(f"{path}: line 1: a dataset spec is a YAML mapping "
                        f"of keys ({', '.join(REQUIRED_KEYS)})")
    lines = _key_lines(text)

    def fail(key, problem):
        where = f"line {lines[key]}: " if key in lines else ""
        raise SpecError(f"{path}: {where}key '{key}': {problem}")

    unknown = sorted(set(values) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS))
    if unknown:
        fail(unknown[0], f"unknown key (known: "
                         f"{', '.join(REQUIRED_KEYS + OPTIONAL_KEYS)})")
    for key in REQUIRED_KEYS:
        if key not in values:
            raise SpecError(f"{path}: missing required key '{key}'")

    def text_value(key):
        value = values[key]
        if not isinstance(value, str) or not value.strip():
            fail(key, f"must be a non-empty string, got {value!r}")
        return value

    def choice(key, allowed):
        value = text_value(key)
        if value not in allowed:
            fail(key, f"must be one of {', '.join(allowed)}, got {value!r}")
        return value

    def positive_int(key, default=None):
        value = values.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            fail(key, f"must be a positive integer, got {value!r}")
        return value

    mode = choice("mode", MODES)
    features = values["features"]
    if (not isinstance(features, list) or not features or
            not all(isinstance(f, str) and f for f in features)):
        fail("features", f"must be a non-empty list of column names, "
                         f"got {features!r}")
    if len(set(features)) != len(features):
        fail("features", "lists a column twice")

    split = values["split"]
    split_column = eval_fraction = None
    if not isinstance(split, dict) or len(split) != 1:
        fail("split", "must be {column: NAME} or {eval_fraction: F}, "
                      f"got {split!r}")
    if "column" in split:
        split_column = split["column"]
        if not isinstance(split_column, str) or not split_column:
            fail("split", f"column must be a column name, got {split_column!r}")
    elif "eval_fraction" in split:
        eval_fraction = split["eval_fraction"]
        if (isinstance(eval_fraction, bool) or
                not isinstance(eval_fraction, (int, float)) or
                not 0 < eval_fraction < 1):
            fail("split", f"eval_fraction must be a number in (0, 1), "
                          f"got {eval_fraction!r}")
        eval_fraction = float(eval_fraction)
    else:
        fail("split", f"unknown split kind {list(split)[0]!r} "
                      f"(use column or eval_fraction)")

    window = horizon = None
    stride = 1
    if mode == "windows":
        for key in ("window", "horizon"):
            if key not in values:
                raise SpecError(f"{path}: mode 'windows' needs key '{key}'")
        window, horizon = positive_int("window"), positive_int("horizon")
        stride = positive_int("stride", 1)
    else:
        for key in WINDOW_KEYS:
            if key in values:
                fail(key, "only applies to mode 'windows'")

    own_channel = (mode == "windows" and values.get("task") == "regression"
                   and values["label"] in features)
    forecast_change = values.get("forecast_change", own_channel)
    if not isinstance(forecast_change, bool):
        fail("forecast_change", f"must be true or false, got "
                                f"{forecast_change!r}")
    if forecast_change and not own_channel:
        fail("forecast_change", "needs mode 'windows', task 'regression' and "
                                "the label among the features")
    if forecast_change and contracts.LEVEL_CHANNEL in features:
        fail("features", f"{contracts.LEVEL_CHANNEL!r} is reserved with "
                         f"forecast_change (the forecast channel's level); "
                         f"rename that column")
    season = None
    if "season" in values:
        season = positive_int("season")
        if not own_channel:
            fail("season", "needs mode 'windows', task 'regression' and the "
                           "label among the features")
        if not horizon <= season <= window + horizon - 1:
            fail("season", f"the value one season before the target must lie "
                           f"in the window: needs horizon ({horizon}) <= "
                           f"season <= window + horizon - 1 "
                           f"({window + horizon - 1}), got {season}")

    thresholds = _drift_thresholds(values, features, fail)
    tune = _tune(values, fail)
    spans_window = (positive_int("spans_window") if "spans_window" in values
                    else None)

    spec_dir = os.path.dirname(path)
    schema = values.get("schema")
    if schema is not None:
        schema = os.path.join(spec_dir, text_value("schema"))
        if not os.path.isfile(schema):
            fail("schema", f"file not found: {schema}")
    elif os.path.isfile(os.path.join(spec_dir, "schema.pbtxt")):
        schema = os.path.join(spec_dir, "schema.pbtxt")

    spec = DatasetSpec(
        name=text_value("name"),
        csv=os.path.normpath(os.path.join(spec_dir, text_value("csv"))),
        mode=mode, sequence_id=text_value("sequence_id"),
        step=text_value("step"), features=list(features),
        label=text_value("label"), task=choice("task", TASKS),
        split_column=split_column, eval_fraction=eval_fraction,
        window=window, horizon=horizon, stride=stride, schema=schema,
        forecast_change=forecast_change, season=season,
        drift_thresholds=thresholds, tune=tune, spans_window=spans_window,
        path=path)
    if check_csv:
        check_csv_header(spec, lines)
    return spec


def _tune(values, fail):
    """The spec's ``tune`` key as `TuneConfig` keyword arguments (space
    entries folded into ``space``), or None; checked by `TuneConfig`."""
    # Imported here: the config module imports this one.
    from noisy_rnn.pipeline.config import TUNE_SPACE, TuneConfig
    tune = values.get("tune", False)
    if tune is True:
        tune = {}
    elif tune is False:
        return None
    if not isinstance(tune, dict):
        fail("tune", f"must be true, false or a mapping of the Tuner's "
                     f"options, got {tune!r}")
    budget = {f.name for f in dataclasses.fields(TuneConfig)} - {"space"}
    kwargs, space = {}, {}
    for key, value in tune.items():
        if key in budget:
            kwargs[key] = value
        elif key in TUNE_SPACE:
            space[key] = value
        else:
            fail("tune", f"unknown option {key!r} (known: "
                         f"{', '.join(sorted(budget) + list(TUNE_SPACE))})")
    if space:
        kwargs["space"] = {**{k: list(v) for k, v in TUNE_SPACE.items()},
                           **space}
    try:
        TuneConfig(**kwargs).validate()
    except ValueError as error:
        fail("tune", str(error).replace("tuning option --tune-", "option "))
    return kwargs


def _drift_thresholds(values, features, fail):
    """The spec's ``drift_thresholds``: ``{feature or label: number >= 0}``
    (a forecast channel's target is ``<label>_target``, see
    `DatasetSpec.label_feature`)."""
    given = values.get("drift_thresholds", {})
    if not isinstance(given, dict):
        fail("drift_thresholds", f"must be a mapping of feature: threshold, "
                                 f"got {given!r}")
    label = values["label"]
    label_feature = f"{label}_target" if label in features else label
    known = list(features) + [label_feature]
    thresholds = {}
    for name, threshold in given.items():
        key = f"drift_thresholds.{name}"
        if name not in known:
            fail(key, f"unknown feature (known: {', '.join(known)})")
        if isinstance(threshold, bool) or \
                not isinstance(threshold, (int, float)) or \
                not threshold >= 0 or threshold == float("inf"):
            fail(key, f"must be a number >= 0, got {threshold!r}")
        thresholds[name] = float(threshold)
    return thresholds


def decode_csv(csv_path, raw: bytes, error_class=None, first_line=1):
    """The lines of a CSV's bytes, for `csv.reader` (line ends kept, so a
    quoted field may span lines, as with ``open(newline="")``). UTF-8, a
    leading byte-order mark dropped, no NUL byte; otherwise
    ``error_class`` (default `SpecError`) naming the file, the line and the
    offending byte. ``first_line``: the line ``raw`` starts on, when it is
    a later part of a file (lines are counted from it; no byte-order mark
    there)."""
    encoding = "utf-8-sig" if first_line == 1 else "utf-8"
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as error:
        start = raw.rfind(b"\n", 0, error.start) + 1
        line = raw.count(b"\n", 0, error.start) + first_line
        character = len(raw[start:error.start].decode(
            encoding, errors="replace")) + 1
        raise (error_class or SpecError)(
            f"{csv_path}: line {line}: not valid UTF-8 (byte "
            f"0x{raw[error.start]:02x} at character {character}); save the "
            f"file as UTF-8 text") from None
    nul = text.find("\x00")
    if nul >= 0:  # csv.reader stops at it with no line number
        start = text.rfind("\n", 0, nul) + 1
        raise (error_class or SpecError)(
            f"{csv_path}: line {text.count(chr(10), 0, nul) + first_line}: "
            f"a NUL byte (0x00) at character {nul - start + 1}: binary "
            f"data, not CSV text")
    return io.StringIO(text, newline="").readlines()


def read_csv_lines(csv_path, error_class=None, first_only=False):
    """The lines of a local UTF-8 CSV (see `decode_csv`); with
    ``first_only``, only its first line is read."""
    try:
        with open(csv_path, "rb") as f:
            raw = f.readline() if first_only else f.read()
    except OSError as error:
        raise (error_class or SpecError)(
            f"{csv_path}: cannot read CSV: {error}") from None
    return decode_csv(csv_path, raw, error_class)


def read_csv_header(csv_path):
    """The CSV's column names; SpecError if the file is missing, empty or
    its first line is not UTF-8."""
    header = next(csv.reader(read_csv_lines(csv_path, first_only=True)),
                  None)
    if not header:
        raise SpecError(f"{csv_path}: line 1: empty CSV (no header row)")
    return [column.strip() for column in header]


def check_csv_header(spec, lines=None, header=None):
    """SpecError naming the spec key whose column the CSV header lacks.

    ``header``: the CSV's column names, if already read (else read here).
    """
    lines = lines or {}
    header = read_csv_header(spec.csv) if header is None else header
    keyed_columns = [("sequence_id", spec.sequence_id), ("step", spec.step),
                     *(("features", f) for f in spec.features),
                     ("label", spec.label)]
    if spec.split_column:
        keyed_columns.append(("split", spec.split_column))
    for key, column in keyed_columns:
        if column not in header:
            where = f"line {lines[key]}: " if key in lines else ""
            looks_like_data = all(_is_number(v) for v in header)
            hint = (" (the first row looks like data: the CSV needs a header "
                    "row)") if looks_like_data else ""
            raise SpecError(
                f"{spec.path}: {where}key '{key}': column {column!r} is not in "
                f"the header (line 1) of {spec.csv}{hint}; header: "
                f"{', '.join(header)}")


def _is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False
