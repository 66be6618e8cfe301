"""CSV -> request items: a prediction CSV's sequences (``sequences`` mode)
or each series' last window (``windows`` mode), checked with the
SequenceExampleGen's row rules so errors name file, line and column."""

import collections
import dataclasses
import os

from noisy_rnn.schemas.dataset_spec import read_csv_header, read_csv_lines


@dataclasses.dataclass(frozen=True)
class Item:
    """One request item: a sequence, or the last window of a series.

    ``values`` holds one row per step of the features' values, in the spec's
    feature order; ``lines`` the CSV line of each step.
    """

    key: str
    values: tuple
    lines: tuple



def _examples_rules():
    """The SequenceExampleGen CSV rules (imports TensorFlow)."""
    from noisy_rnn.components.sequence_example_gen import examples  # pylint: disable=import-outside-toplevel
    return examples


def _check_header(spec, csv_path, error_class):
    header = read_csv_header(csv_path)
    needed = [spec.sequence_id, spec.step, *spec.features]
    for column in needed:
        if column not in header:
            raise error_class(
                f"{csv_path}: line 1: column '{column}' is missing from the "
                f"header (a prediction CSV needs {', '.join(needed)}); "
                f"header: {', '.join(header)}")


def _group_rows(spec, csv_path, rules):
    """``{key: [(line, row), ...]}`` in the order keys first appear."""
    groups = collections.OrderedDict()
    lines = read_csv_lines(csv_path, rules.DataError)
    for line, row in rules.parse_rows(csv_path, lines):
        key = row[spec.sequence_id]
        if not key:
            raise rules.DataError(
                f"{csv_path}: line {line}, column '{spec.sequence_id}': "
                f"missing sequence id")
        groups.setdefault(key, []).append((line, row))
    if not groups:
        raise rules.DataError(f"{csv_path}: no data rows after the header")
    return groups


def _sequence_item(spec, key, ordered, rules):
    number = rules._number  # pylint: disable=protected-access
    values = tuple(tuple(number(spec, line, row, name)
                         for name in spec.features)
                   for line, _, row in ordered)
    return Item(key, values, tuple(line for line, _, _ in ordered))


def _window_item(spec, key, ordered, rules):
    """The series' last ``window`` steps; every value of the series must be
    numeric or empty, and the window contiguous and complete."""
    number = rules._number  # pylint: disable=protected-access
    window = spec.window
    if len(ordered) < window:
        raise rules.DataError(
            f"{spec.csv}: line {ordered[0][0]}: series {key!r} has "
            f"{len(ordered)} steps, fewer than window = {window}")
    values = [[number(spec, line, row, name, allow_missing=True)
               for name in spec.features] for line, _, row in ordered]
    tail, values = ordered[-window:], values[-window:]
    span = f"lines {', '.join(str(line) for line, _, _ in tail)}" \
        if window <= 4 else f"lines {tail[0][0]}..{tail[-1][0]}"
    for (line_a, step_a, _), (line_b, step_b, _) in zip(tail, tail[1:]):
        if step_b != step_a + 1:
            raise rules.DataError(
                f"{spec.csv}: line {line_b}, column '{spec.step}': step "
                f"{step_b} does not follow step {step_a} (line {line_a}); the "
                f"last {window} steps of series {key!r} ({span}) must be "
                f"contiguous")
    for (line, _, _), row_values in zip(tail, values):
        for name, value in zip(spec.features, row_values):
            if value is None:
                raise rules.DataError(
                    f"{spec.csv}: line {line}, column '{name}': missing value "
                    f"within the last {window} steps of series {key!r} "
                    f"({span}), which the model reads")
    return Item(key, tuple(map(tuple, values)),
                tuple(line for line, _, _ in tail))


def read_items(spec, csv_path):
    """The request items of a prediction CSV, in order of first appearance.

    Args:
      spec: the `DatasetSpec` the model was trained with.
      csv_path: the prediction CSV (label and split columns optional).

    Returns:
      A list of `Item`.

    Raises:
      DataError: naming the file, line and column at fault.
    """
    rules = _examples_rules()
    csv_path = os.path.abspath(csv_path)
    _check_header(spec, csv_path, rules.DataError)
    spec = dataclasses.replace(spec, csv=csv_path)  # errors name this CSV
    make_item = _window_item if spec.mode == "windows" else _sequence_item
    return [make_item(spec, key, rules.order_sequence(spec, key, rows), rules)
            for key, rows in _group_rows(spec, csv_path, rules).items()]

