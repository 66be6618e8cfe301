"""Long CSV rows -> tf.Examples: per sequence, or per sliding window.

Pure Python (no Beam) so the rules are testable on their own; the executor
runs them per sequence inside a Beam pipeline. Every rejected input raises
`DataError` naming the CSV file, its line and the column.
"""

import csv
import hashlib
import math

import tensorflow as tf

from noisy_rnn.schemas import contracts

SPLITS = ("train", "eval")
# Carved from the train split for early stopping and any other model
# selection, so that the eval split stays unseen until the Evaluator.
VALIDATION = contracts.VALIDATION_SPLIT


class DataError(ValueError):
    """The CSV breaks a rule of the dataset spec."""


def parse_rows(csv_path, lines):
    """Yields ``(line_number, row_dict)`` from the CSV's text lines.

    ``lines`` iterates over the file's lines (header first). Raises
    `DataError` for an empty file or a row with the wrong number of fields.
    """
    reader = csv.reader(lines)
    header = next(reader, None)
    if not header:
        raise DataError(f"{csv_path}: line 1: empty CSV (no header row)")
    header = [column.strip() for column in header]
    for row in reader:
        line_number = reader.line_num
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # blank line
        if len(row) != len(header):
            raise DataError(f"{csv_path}: line {line_number}: {len(row)} "
                            f"fields, the header has {len(header)}")
        yield line_number, dict(zip(header, (v.strip() for v in row)))


def _number(spec, line, row, column, allow_missing=False):
    text = row[column]
    if text == "" and allow_missing:
        return None
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or math.isnan(value) or math.isinf(value):
        kind = "missing" if text == "" else f"non-numeric value {text!r}"
        raise DataError(f"{spec.csv}: line {line}, column '{column}': {kind}"
                        f" (features must be finite numbers)")
    return value


def _step(spec, line, row):
    text = row[spec.step]
    try:
        return int(text)
    except ValueError:
        raise DataError(f"{spec.csv}: line {line}, column '{spec.step}': "
                        f"step must be an integer, got {text!r}") from None


def _split_value(spec, line, row):
    value = row[spec.split_column]
    if value not in SPLITS:
        raise DataError(f"{spec.csv}: line {line}, column "
                        f"'{spec.split_column}': unknown split value "
                        f"{value!r} (expected train or eval)")
    return value


def order_sequence(spec, sequence_id, rows):
    """Sorts one sequence's ``(line, row)`` pairs by step; rejects duplicate
    steps. Returns ``[(line, step, row), ...]``."""
    stepped = sorted(((_step(spec, line, row), line, row)
                      for line, row in rows), key=lambda t: (t[0], t[1]))
    for (step_a, line_a, _), (step_b, line_b, _) in zip(stepped, stepped[1:]):
        if step_a == step_b:
            raise DataError(
                f"{spec.csv}: line {line_b}, column '{spec.step}': duplicate "
                f"step {step_b} in sequence {sequence_id!r} (also on line "
                f"{line_a})")
    return [(line, step, row) for step, line, row in stepped]


def _label_feature(spec, line, row):
    if spec.task == "classification":
        value = row[spec.label]
        if value == "":
            raise DataError(f"{spec.csv}: line {line}, column '{spec.label}':"
                            f" missing label")
        return tf.train.Feature(bytes_list=tf.train.BytesList(
            value=[value.encode()]))
    return tf.train.Feature(float_list=tf.train.FloatList(
        value=[_number(spec, line, row, spec.label)]))


def _example(spec, sequence_id, values_by_feature, label_feature, extra=None):
    features = {name: tf.train.Feature(float_list=tf.train.FloatList(
        value=values)) for name, values in values_by_feature.items()}
    features[spec.label_feature] = label_feature
    features[contracts.SEQUENCE_ID_FEATURE] = tf.train.Feature(bytes_list=tf.train.BytesList(
        value=[sequence_id.encode()]))
    features.update(extra or {})
    return tf.train.Example(features=tf.train.Features(feature=features))


def sequence_example(spec, sequence_id, ordered):
    """One example for a whole sequence: ``(split or None, Example)``.

    Each feature becomes a float list over the sequence's steps. The split
    is the sequence's split-column value (None when splitting by time).
    """
    first_line = ordered[0][0]
    if len(ordered) < 2:
        raise DataError(f"{spec.csv}: line {first_line}: sequence "
                        f"{sequence_id!r} has {len(ordered)} step; a sequence "
                        f"needs at least 2")
    label = ordered[0][2][spec.label]
    split = _split_value(spec, first_line, ordered[0][2]) \
        if spec.split_column else None
    for line, _, row in ordered:
        if row[spec.label] != label:
            raise DataError(
                f"{spec.csv}: line {line}, column '{spec.label}': label "
                f"{row[spec.label]!r} differs from {label!r} (line "
                f"{first_line}) within sequence {sequence_id!r}")
        if spec.split_column and _split_value(spec, line, row) != split:
            raise DataError(
                f"{spec.csv}: line {line}, column '{spec.split_column}': "
                f"split changes within sequence {sequence_id!r}")
    values = {name: [_number(spec, line, row, name)
                     for line, _, row in ordered] for name in spec.features}
    return split, _example(spec, sequence_id, values,
                           _label_feature(spec, first_line, ordered[0][2]))


def window_examples(spec, sequence_id, ordered):
    """Sliding windows over one series.

    Yields ``(split, target_position, Example)`` per window, where
    ``target_position`` is the target row's index in the series (for time
    splits), and finally ``("skipped", count, None)``: windows that would
    span a step gap or a missing value are skipped by design and counted.
    """
    if len(ordered) < spec.window + spec.horizon:
        raise DataError(
            f"{spec.csv}: line {ordered[0][0]}: series {sequence_id!r} has "
            f"{len(ordered)} steps, fewer than window + horizon = "
            f"{spec.window + spec.horizon}")
    values = {name: [_number(spec, line, row, name, allow_missing=True)
                     for line, _, row in ordered] for name in spec.features}
    steps = [step for _, step, _ in ordered]
    skipped = 0
    span = spec.window + spec.horizon
    for start in range(0, len(ordered) - span + 1, spec.stride):
        target = start + span - 1
        contiguous = steps[target] - steps[start] == span - 1
        window = {name: column[start:start + spec.window]
                  for name, column in values.items()}
        line, _, row = ordered[target]
        missing_target = spec.task == "regression" and row[spec.label] == ""
        if (not contiguous or missing_target or
                any(v is None for column in window.values() for v in column)):
            skipped += 1
            continue
        split = _split_value(spec, line, row) if spec.split_column else None
        extra = {contracts.TARGET_STEP_FEATURE: tf.train.Feature(int64_list=tf.train.Int64List(
            value=[steps[target]]))}
        yield split, target, _example(spec, sequence_id, window,
                                      _label_feature(spec, line, row), extra)
    yield "skipped", skipped, None


def validation_count(train_count, fraction):
    """How many of ``train_count`` training items go to the validation
    slice: ``fraction`` of them, rounded half up."""
    return math.floor(train_count * fraction + 0.5)


def choose_validation_sequences(keys, fraction, seed):
    """Sequences mode: the ids of the training sequences that form the
    validation slice.

    ``keys``: ``(sequence_id, group)`` per training sequence, the group being
    the class label (classification: the slice is stratified, ``fraction``
    of each class) or None. Within a group, sequences are ordered by a hash
    of ``seed`` and their id, so the choice is deterministic given the seed
    and independent of file order.
    """
    groups = {}
    for sequence_id, group in keys:
        groups.setdefault(group, []).append(sequence_id)
    chosen = set()
    for ids in groups.values():
        ids.sort(key=lambda i: hashlib.sha256(
            f"{seed}/{i}".encode()).hexdigest())
        chosen.update(ids[:validation_count(len(ids), fraction)])
    return chosen


def latest_validation_positions(train_positions, fraction):
    """Windows mode: of one series' training windows (their target
    positions), the latest ``fraction`` in time, which form the validation
    slice."""
    ordered = sorted(train_positions)
    count = validation_count(len(ordered), fraction)
    return set(ordered[len(ordered) - count:]) if count else set()
