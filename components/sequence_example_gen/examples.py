"""Long CSV rows -> tf.Examples: per sequence, or per sliding window.

Pure Python (no Beam) so the rules are testable on their own; the executor
runs them per sequence inside a Beam pipeline. Every rejected input raises
`DataError` naming the CSV file, its line and the column.
"""

import bisect
import collections
import csv
import functools
import hashlib
import itertools
import math
import typing

import numpy as np
import pyarrow as pa
import pyarrow.compute as pa_compute
import pyarrow.csv as pa_csv
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
    _check_series_length(spec, sequence_id, len(ordered), ordered[0][0])
    values = {name: [_number(spec, line, row, name, allow_missing=True)
                     for line, _, row in ordered] for name in spec.features}
    yield from _windows(spec, sequence_id, values,
                        [step for _, step, _ in ordered],
                        [(line, row) for line, _, row in ordered])


def _check_series_length(spec, sequence_id, length, first_line):
    if length < spec.window + spec.horizon:
        raise DataError(
            f"{spec.csv}: line {first_line}: series {sequence_id!r} has "
            f"{length} steps, fewer than window + horizon = "
            f"{spec.window + spec.horizon}")


def _windows(spec, sequence_id, values, steps, targets):
    """`window_examples` from a series' columns in step order: ``values``
    per feature (None: missing), ``steps``, and per row ``(line, row)``
    with the row's label (and split) column, read at window targets."""
    skipped = 0
    span = spec.window + spec.horizon
    for start in range(0, len(steps) - span + 1, spec.stride):
        target = start + span - 1
        contiguous = steps[target] - steps[start] == span - 1
        window = {name: column[start:start + spec.window]
                  for name, column in values.items()}
        line, row = targets[target]
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


def validation_cutoffs(keys, fraction, seed):
    """Sequences mode: which training sequences form the validation slice,
    as ``{group: rank}``: a sequence is in it when its `validation_rank` is
    at most its group's (`in_validation`). A rule of one value per group,
    not a set of ids, so that the executor hands every bucket a few values.

    ``keys``: ``(sequence_id, group)`` per training sequence, the group being
    the class label (classification: the slice is stratified, ``fraction``
    of each class) or None. Within a group, sequences are ordered by
    `validation_rank`, a hash of ``seed`` and their id, so the choice is
    deterministic given the seed and independent of file order.

    Each group gives ``fraction`` of its sequences, rounded half up, but
    never its last one (a class must stay in the training slice). Many
    small classes can round to nothing each (52 classes of 2 sequences at
    0.15: 0.3 each) while the slice as a whole is owed some: then the
    groups owed the largest remainders each give one more, until the slice
    holds ``fraction`` of all training sequences (rounded half up), ties
    broken by a hash of ``seed`` and the group.
    """
    groups = {}
    for sequence_id, group in keys:
        groups.setdefault(group, []).append(
            validation_rank(seed, sequence_id))
    taken = {}
    for group, ranks in groups.items():
        ranks.sort()
        taken[group] = min(validation_count(len(ranks), fraction),
                           len(ranks) - 1)
    owed = validation_count(sum(map(len, groups.values())), fraction) - sum(
        taken.values())
    if owed > 0:
        # Most owed first: the largest share not yet taken.
        for group in sorted(
                (g for g in groups if taken[g] < len(groups[g]) - 1),
                key=lambda g: (taken[g] - len(groups[g]) * fraction,
                               hashlib.sha256(
                                   f"{seed}/{g}".encode()).hexdigest()))[
                                       :owed]:
            taken[group] += 1
    return {group: ranks[taken[group] - 1]
            for group, ranks in groups.items() if taken[group]}


def validation_rank(seed, sequence_id):
    """A sequence's place in the seeded order the validation slice is
    taken in (the SHA-256 of ``seed/sequence_id``, hex)."""
    return hashlib.sha256(f"{seed}/{sequence_id}".encode()).hexdigest()


def in_validation(cutoffs, seed, sequence_id, group):
    """Whether a training sequence is in the validation slice that
    ``cutoffs`` (`validation_cutoffs`) describe."""
    cutoff = cutoffs.get(group)
    return cutoff is not None and validation_rank(seed, sequence_id) <= cutoff


def latest_validation_positions(train_positions, fraction):
    """Windows mode: of one series' training windows (their target
    positions), the latest ``fraction`` in time, which form the validation
    slice."""
    ordered = sorted(train_positions)
    count = validation_count(len(ordered), fraction)
    return set(ordered[len(ordered) - count:]) if count else set()


# Columnar reading: the executor reads each CSV file in one step and emits
# one `Chunk` per sequence (and file) instead of one element per row. The
# common case (integer steps, finite numbers, a constant label and split)
# is built from the columns; any other sequence goes back to the row rules
# above, so each error reads exactly as they word it.

BLOCK_ROWS = 1 << 15  # rows parsed and converted at a time
FLOAT32_MAX = float(np.finfo(np.float32).max)


class Chunk(typing.NamedTuple):
    """Some rows of one sequence, as columns (rows in arrival order).

    ``lines``: int64 line numbers as bytes; ``steps``: ints, or the stripped
    texts of a block where one is not an integer; ``numbers``: the features'
    float64 values (row-major, NaN where not a finite number) as bytes;
    ``bad``: ``(row, feature index, stripped text)`` of those values;
    ``labels``, ``splits``: the stripped texts, one str if the same on every
    row, else a list (``splits`` None without a split column).
    """

    lines: bytes
    steps: list
    numbers: bytes
    bad: tuple
    labels: object
    splits: object


def _text_column(texts):
    """A constant column as one str, else the list."""
    return texts[0] if texts.count(texts[0]) == len(texts) else texts


def _expand(column, length):
    return [column] * length if isinstance(column, str) else column


def merge_chunks(chunks):
    """One `Chunk` of the rows of ``chunks``, in their order."""
    chunks = list(chunks)
    if len(chunks) == 1:
        return chunks[0]
    bad = _joined_bad((c.bad, len(c.steps)) for c in chunks)

    def texts(field):
        columns = [getattr(chunk, field) for chunk in chunks]
        if columns[0] is None:
            return None
        return _text_column([text for chunk, column in zip(chunks, columns)
                             for text in _expand(column, len(chunk.steps))])
    return Chunk(b"".join(c.lines for c in chunks),
                 [step for c in chunks for step in c.steps],
                 b"".join(c.numbers for c in chunks), bad,
                 texts("labels"), texts("splits"))


def _joined_bad(pieces):
    """The bad values of consecutive pieces, ``(bad, rows)`` each, with
    rows counted from the first piece's first row."""
    bad, offset = [], 0
    for piece_bad, rows in pieces:
        bad.extend((row + offset, feature, text)
                   for row, feature, text in piece_bad)
        offset += rows
    return tuple(bad)


def _float_columns(columns, count):
    """``(count x len(columns)`` float64 matrix, bad values)`` of text
    columns: NaN, and ``(row, column index, stripped text)`` in ``bad``,
    where a text is not a finite number (as `_number` reads it)."""
    matrix = np.empty((count, len(columns)))
    bad = []
    for index, column in enumerate(columns):
        matrix[:, index], column_bad = _float_column(column, count)
        bad.extend((row, index, text) for row, text in column_bad)
    bad.sort()
    return matrix, bad


def _float_column(texts, count):
    """`_float_columns` of one column: ``(values, [(row, stripped text),
    ...])``."""
    try:  # float() ignores surrounding whitespace, as strip() does
        values = np.fromiter(map(float, texts), np.float64, count)
    except ValueError:
        values = np.array([_float_or_nan(text) for text in texts],
                          np.float64)
    bad = []
    for row in np.flatnonzero(~np.isfinite(values)).tolist():
        values[row] = np.nan
        bad.append((row, texts[row].strip()))
    return values, bad


def _float_or_nan(text):
    try:
        return float(text)
    except ValueError:
        return math.nan


class Rows(typing.NamedTuple):
    """Rows of one CSV part, or of one bucket's sequences in it, as
    columns in file order: what the executor's read hands to its grouping.

    ``ids``, ``labels``: the stripped texts, one per row; ``lines``: int64
    line numbers; ``steps``: int64, or a list where a step is not an
    integer (texts) or beyond int64 (ints); ``numbers``: the features'
    float64 values (rows x features, NaN where not a finite number);
    ``bad``: ``(row, feature index, stripped text)`` of those values,
    sorted; ``splits``: the stripped texts, or None without a split column.
    """

    ids: list
    lines: np.ndarray
    steps: object
    numbers: np.ndarray
    bad: tuple
    labels: list
    splits: object


def _step_array(steps):
    """A block's steps as int64 if every one is an int that fits, else the
    list itself."""
    if all(type(step) is int for step in steps):
        try:
            return np.array(steps, np.int64)
        except OverflowError:
            pass
    return steps


def _step_list(steps):
    return steps.tolist() if isinstance(steps, np.ndarray) else steps


def concat_rows(blocks):
    """One `Rows` of ``blocks``' rows, in their order."""
    blocks = [block for block in blocks if len(block.ids)]
    if len(blocks) == 1:
        return blocks[0]
    steps = [block.steps for block in blocks]
    steps = (np.concatenate(steps) if steps and all(
        isinstance(column, np.ndarray) for column in steps)
        else [step for column in steps for step in _step_list(column)])
    return Rows(
        [i for block in blocks for i in block.ids],
        np.concatenate([block.lines for block in blocks]) if blocks
        else np.zeros(0, np.int64),
        steps,
        np.concatenate([block.numbers for block in blocks]) if blocks
        else np.zeros((0, 0)),
        _joined_bad((block.bad, len(block.ids)) for block in blocks),
        [text for block in blocks for text in block.labels],
        None if not blocks or blocks[0].splits is None else
        [text for block in blocks for text in block.splits])


def _runs(ids):
    """Bounds ``[0, ..., len(ids)]`` of the runs of consecutive equal ids,
    and the ids as an object array."""
    ids = np.asarray(ids, dtype=object)
    starts = np.flatnonzero(ids[1:] != ids[:-1]) + 1
    return np.concatenate([[0], starts, [len(ids)]]).astype(np.int64), ids


def sequence_keys(rows):
    """``{sequence_id: (first line, label, split)}`` of the sequences in a
    part's `Rows`: what choosing each sequence's split needs (the
    executor's `split_rule`), read before the examples are built. The
    label and split are those of the sequence's first row; a sequence
    whose rows disagree fails later, where its example is built, with its
    own message."""
    if not len(rows.ids):
        return {}
    bounds, ids = _runs(rows.ids)
    starts = bounds[:-1]
    firsts = np.minimum.reduceat(rows.lines, starts).tolist()
    keys = {}
    for sequence_id, start, line in zip(ids[starts].tolist(),
                                        starts.tolist(), firsts):
        found = keys.get(sequence_id)
        if found is None or line < found[0]:
            keys[sequence_id] = (line, rows.labels[start], None
                                 if rows.splits is None
                                 else rows.splits[start])
    return keys


def sequence_chunks(rows):
    """``(sequence_id, Chunk)`` per sequence of a `Rows`, its runs of
    consecutive rows merged, in order of first appearance."""
    count = len(rows.ids)
    if not count:
        return
    bounds, ids = _runs(rows.ids)
    bad_rows = [row for row, _, _ in rows.bad]
    steps = _step_list(rows.steps)
    pieces = {}
    for start, stop in zip(bounds.tolist(), bounds[1:].tolist()):
        first, last = (bisect.bisect_left(bad_rows, start),
                       bisect.bisect_left(bad_rows, stop))
        piece = Chunk(
            rows.lines[start:stop].tobytes(), steps[start:stop],
            rows.numbers[start:stop].tobytes(),
            tuple((row - start, feature, text)
                  for row, feature, text in rows.bad[first:last]),
            _text_column(rows.labels[start:stop]),
            None if rows.splits is None
            else _text_column(rows.splits[start:stop]))
        pieces.setdefault(ids[start], []).append(piece)
    for sequence_id, found in pieces.items():
        yield sequence_id, merge_chunks(found)


def bucket_rows(rows, bucket_of):
    """``(bucket, Rows)`` per bucket (``bucket_of(sequence_id)``) of the
    sequences in ``rows``, each bucket's rows in file order, the buckets in
    order of their first row."""
    count = len(rows.ids)
    if not count:
        return
    bounds, ids = _runs(rows.ids)
    run_buckets = np.array([bucket_of(sequence_id)
                            for sequence_id in ids[bounds[:-1]].tolist()])
    row_buckets = np.repeat(run_buckets, np.diff(bounds))
    order = np.argsort(row_buckets, kind="stable")
    buckets, firsts = np.unique(row_buckets[order], return_index=True)
    # In order of each bucket's first row: the order the buckets reach
    # Beam's grouping in, and so (on the DirectRunner) the order of the
    # examples in the files, which training batches follow.
    segments = sorted(zip(buckets.tolist(), firsts.tolist(),
                          [*firsts[1:].tolist(), count]),
                      key=lambda segment: order[segment[1]])
    position = np.empty(count, np.int64)
    for _, start, stop in segments:
        position[order[start:stop]] = np.arange(stop - start)
    bad = collections.defaultdict(list)
    for row, feature, text in rows.bad:
        bad[int(row_buckets[row])].append((int(position[row]), feature,
                                           text))
    labels = np.asarray(rows.labels, dtype=object)
    splits = (None if rows.splits is None
              else np.asarray(rows.splits, dtype=object))
    integer_steps = isinstance(rows.steps, np.ndarray)
    steps = rows.steps if integer_steps else np.asarray(rows.steps,
                                                         dtype=object)
    for bucket, start, stop in segments:
        taken = order[start:stop]
        yield bucket, Rows(
            ids[taken].tolist(), rows.lines[taken],
            steps[taken] if integer_steps else steps[taken].tolist(),
            rows.numbers[taken], tuple(bad[bucket]),
            labels[taken].tolist(),
            None if splits is None else splits[taken].tolist())


class _ChunkReader:
    """Reads one CSV's rows block by block into `Rows`, keeping only the
    spec's columns, as numbers where they are numbers."""

    def __init__(self, spec, header):
        index = {column: i for i, column in enumerate(header)}  # last wins
        self.spec = spec
        self.id_column, self.step_column = (index[spec.sequence_id],
                                            index[spec.step])
        self.feature_columns = [index[name] for name in spec.features]
        self.label_column = index[spec.label]
        self.split_column = (index[spec.split_column] if spec.split_column
                             else None)
        self.width = len(header)
        self.rows = 0  # filed so far
        self.blocks = []  # Rows, in file order

    def add_block(self, columns, line_numbers):
        """Converts a block of rows (``columns``: one sequence of texts
        per column) and files it."""
        count = len(line_numbers)
        matrix, bad = _float_columns(
            [columns[i] for i in self.feature_columns], count)
        self.add_rows(
            list(map(str.strip, columns[self.id_column])),
            _steps(columns[self.step_column]), matrix, bad,
            list(map(str.strip, columns[self.label_column])),
            (list(map(str.strip, columns[self.split_column]))
             if self.split_column is not None else None),
            np.asarray(line_numbers, np.int64))

    def add_rows(self, ids, steps, matrix, bad, labels, splits, lines):
        """Files converted rows (stripped ids, steps, the features' float64
        matrix and its bad values, stripped labels and splits, int64 line
        numbers)."""
        self.rows += len(lines)
        self.blocks.append(Rows(ids, lines, _step_array(steps)
                                if isinstance(steps, list) else steps,
                                matrix, tuple(bad), labels, splits))

    def collected(self):
        """Every row filed, as one `Rows`."""
        return concat_rows(self.blocks)

    def chunks(self):
        """``(sequence_id, Chunk)`` per sequence, in file order."""
        return sequence_chunks(self.collected())


def _steps(texts):
    """A block's steps: ints, or the stripped texts if one is not an
    integer (the row rules name it)."""
    steps = list(map(str.strip, texts))
    try:
        return list(map(int, steps))
    except ValueError:
        return steps


def _checked_rows(csv_path, reader, width, line_offset=0):
    """``(line, fields)`` of the reader's rows but blank lines; DataError
    for a row with the wrong number of fields (the `parse_rows` rules)."""
    for row in reader:
        if len(row) != width or width == 1:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line
            if len(row) != width:
                raise DataError(
                    f"{csv_path}: line {line_offset + reader.line_num}: "
                    f"{len(row)} fields, the header has {width}")
        yield line_offset + reader.line_num, row


def _columns(checked_rows):
    """``(columns, line numbers)`` of ``(line, fields)`` pairs."""
    line_numbers, rows = zip(*checked_rows) if checked_rows else ((), ())
    return list(zip(*rows)), line_numbers


def _quoted_blocks(csv_path, reader, width, line_offset=0):
    """Column blocks of a CSV with quotes, whose fields may hold commas and
    line ends: parsed row by row (``reader``: a `csv.reader` past the
    header, its first line on line ``line_offset + 1``)."""
    rows = _checked_rows(csv_path, reader, width, line_offset)
    while True:
        block = list(itertools.islice(rows, BLOCK_ROWS))
        if not block:
            return
        yield _columns(block)


def _plain_blocks(csv_path, lines, width, first=1, line_offset=0):
    """Column blocks of a CSV without quotes: each line is one row, its
    fields split at commas (what `csv.reader` reads from it), all lines
    of a block at once; a block with a blank line or a wrong field count
    goes through `csv.reader`. Releases the lines read. ``lines[first:]``
    are the rows (``first`` 1: past the header), ``lines[0]`` on line
    ``line_offset + 1``."""
    for start in range(first, len(lines), BLOCK_ROWS):
        stop = min(start + BLOCK_ROWS, len(lines))
        texts = list(map(str.rstrip, lines[start:stop],
                         itertools.repeat("\r\n")))
        lines[start:stop] = itertools.repeat(None, stop - start)
        commas = list(map(str.count, texts, itertools.repeat(",")))
        if width > 1 and commas.count(width - 1) == len(texts):
            fields = ",".join(texts).split(",")
            yield ([fields[i::width] for i in range(width)],
                   range(line_offset + start + 1, line_offset + stop + 1))
        else:
            yield _columns(list(_checked_rows(csv_path, csv.reader(texts),
                                              width, line_offset + start)))


def read_chunks(csv_path, lines, spec):
    """Yields ``(sequence_id, Chunk)`` per sequence of one CSV file.

    ``lines``: the file's text lines, header first (see `parse_rows`, whose
    blank-line and field-count rules apply), the header already checked
    to hold the spec's columns; its lines are released as they are read.
    """
    quoted = any('"' in "".join(lines[i:i + BLOCK_ROWS])
                 for i in range(0, len(lines), BLOCK_ROWS))
    reader = csv.reader(lines if quoted else lines[:1])
    header = next(reader, None)
    if not header:
        raise DataError(f"{csv_path}: line 1: empty CSV (no header row)")
    header = [column.strip() for column in header]
    chunks = _ChunkReader(spec, header)
    blocks = (_quoted_blocks(csv_path, reader, len(header)) if quoted
              else _plain_blocks(csv_path, lines, len(header)))
    for columns, line_numbers in blocks:
        if line_numbers:
            chunks.add_block(columns, line_numbers)
    yield from chunks.chunks()


# Plain CSVs (the common case) are parsed by Arrow's CSV reader and
# converted with Arrow's casts, which accept a subset of the texts Python's
# float() and int() accept and read them alike (decimals rounded correctly
# by both); a column with any other text (surrounding spaces, a non-finite
# value, an underscore, a non-integer step) is converted by the Python rules,
# and a file that is not plain is read by them entirely, so every result and
# every message stays theirs.
ARROW_BLOCK_BYTES = 16 << 20
_INTEGER = r"^-?[0-9]+$"  # Arrow's integer cast also reads hex ("0x1")


def read_plain_chunks(csv_path, raw, spec, header):
    """`read_chunks` of a CSV's bytes ``raw`` (valid UTF-8 without NUL,
    its ``header`` checked) through Arrow, or None when the file is not
    plain: a quote, a lone carriage return, a blank line or a row whose
    field count differs from the header's. Line numbers follow from the
    row count: with none of those, row ``i`` is on line ``i + 2``."""
    chunks = _ChunkReader(spec, header)
    return chunks.chunks() if _read_plain(Part.of(1, raw), chunks) else None


class Part(typing.NamedTuple):
    """Consecutive whole lines of a CSV file (valid UTF-8 without NUL)."""

    first_line: int  # as the row rules count lines
    raw: bytes
    newlines: int  # line feeds in ``raw``
    lone_returns: int  # carriage returns not followed by a line feed

    @classmethod
    def of(cls, first_line, raw):
        """The part of bytes ``raw`` from line ``first_line``."""
        return cls(first_line, raw, raw.count(b"\n"),
                   raw.count(b"\r") - raw.count(b"\r\n")
                   if b"\r" in raw else 0)

    @property
    def lines(self):
        """Its lines as the row rules count them (`decode_csv`'s lines: a
        lone carriage return ends one too)."""
        return (self.newlines + self.lone_returns +
                (0 if self.raw.endswith((b"\n", b"\r")) or not self.raw
                 else 1))


def _read_plain(part, chunks):
    """Files the rows of a `Part` (past the header, for the part from
    line 1) in ``chunks`` (a `_ChunkReader`) through Arrow; False when
    they are not plain (see `read_plain_chunks`), some then filed."""
    raw, first_line = part.raw, part.first_line
    if part.lone_returns or b'"' in raw:
        return False
    lines = part.lines
    skip = 1 if first_line == 1 else 0  # the header
    names = [f"c{i}" for i in range(chunks.width)]
    needed = sorted({chunks.id_column, chunks.step_column,
                     chunks.label_column, *chunks.feature_columns} |
                    ({chunks.split_column} if chunks.split_column is not None
                     else set()))
    try:
        reader = pa_csv.open_csv(
            pa.BufferReader(raw),
            read_options=pa_csv.ReadOptions(
                skip_rows=skip, column_names=names,
                block_size=ARROW_BLOCK_BYTES),
            parse_options=pa_csv.ParseOptions(
                quote_char=False, newlines_in_values=False,
                ignore_empty_lines=True),
            convert_options=pa_csv.ConvertOptions(
                column_types={names[i]: pa.string() for i in needed},
                include_columns=[names[i] for i in needed],
                strings_can_be_null=False))
        row = first_line + skip
        for batch in reader:
            columns = dict(zip(batch.schema.names, batch.columns))
            chunks.add_rows(*_arrow_rows(chunks, names, columns, batch),
                            np.arange(row, row + batch.num_rows))
            row += batch.num_rows
    except pa.ArrowInvalid:  # a field count the header does not have
        return False
    return row == first_line + lines


# Files of any size are read part by part (`read_parts`), so that memory
# stays bounded by a part, not by the file.
PART_BYTES = 64 << 20
PART_ROWS = 1 << 20  # rows per part, at most, of a file with quotes


def read_parts(csv_path, parts, spec, header, decode):
    """Yields one `Rows` per part of one CSV file, read part by part (a
    sequence may have rows in several parts; the executor merges them by
    id, `merged_chunks` and `sequence_examples`).

    ``parts``: consecutive `Part` of the file, each ending at a line end
    or the file's end, the first from line 1 (the header, already checked:
    ``header``). ``decode(part)``: a part's text lines. A plain part
    is parsed by Arrow (`_read_plain`), any other by the row rules; from
    the first part holding a quote on, the rest of the file goes through
    `csv.reader` (a quoted field may span lines and parts), `PART_ROWS` rows
    at a time.
    """
    parts = iter(parts)
    width = len(header)
    for part in parts:
        if b'"' in part.raw:
            break
        chunks = _ChunkReader(spec, header)
        if not _read_plain(part, chunks):
            chunks = _ChunkReader(spec, header)
            for columns, line_numbers in _plain_blocks(
                    csv_path, decode(part), width,
                    first=1 if part.first_line == 1 else 0,
                    line_offset=part.first_line - 1):
                if line_numbers:
                    chunks.add_block(columns, line_numbers)
        yield chunks.collected()
    else:
        return
    # A quote: csv.reader from this part's first line to the file's end.
    reader = csv.reader(itertools.chain(
        decode(part), itertools.chain.from_iterable(map(decode, parts))))
    if part.first_line == 1:
        next(reader, None)  # the header
    chunks = _ChunkReader(spec, header)
    for columns, line_numbers in _quoted_blocks(csv_path, reader, width,
                                                part.first_line - 1):
        if line_numbers:
            chunks.add_block(columns, line_numbers)
        if chunks.rows >= PART_ROWS:
            yield chunks.collected()
            chunks = _ChunkReader(spec, header)
    yield chunks.collected()


def _arrow_rows(chunks, names, columns, batch):
    """`_ChunkReader.add_rows`' arguments but the lines, from an Arrow
    batch of string columns."""
    count = batch.num_rows
    matrix = np.empty((count, len(chunks.feature_columns)))
    bad = []
    for index, column in enumerate(chunks.feature_columns):
        texts = columns[names[column]]
        values = _cast(texts, pa.float64())
        if values is not None and not np.isfinite(values).all():
            values = None  # "nan", "inf", or beyond float64's range
        if values is None:
            values, column_bad = _float_column(texts.to_pylist(), count)
            bad.extend((row, index, text) for row, text in column_bad)
        matrix[:, index] = values
    bad.sort()
    texts = columns[names[chunks.step_column]]
    steps = _cast(texts, pa.int64()) if pa_compute.all(
        pa_compute.match_substring_regex(texts, _INTEGER)).as_py() \
        is not False else None
    steps = _steps(texts.to_pylist()) if steps is None else steps
    split = chunks.split_column
    return (_stripped(columns[names[chunks.id_column]]), steps, matrix, bad,
            _stripped(columns[names[chunks.label_column]]),
            None if split is None else _stripped(columns[names[split]]))


def _cast(texts, arrow_type):
    """An Arrow string column cast to ``arrow_type`` as NumPy, or None if
    a text is not one. Arrow reads no surrounding space, underscore, plus
    sign or non-ASCII digit, and rounds decimals as Python does."""
    try:
        return pa_compute.cast(texts, arrow_type).to_numpy(
            zero_copy_only=False)
    except pa.ArrowInvalid:
        return None


def _stripped(texts):
    """The stripped texts of an Arrow string column, as a list (each
    distinct text stripped once)."""
    encoded = texts.dictionary_encode()
    distinct = np.array([text.strip() for text in
                         encoded.dictionary.to_pylist()], dtype=object)
    return distinct[encoded.indices.to_numpy(zero_copy_only=False)].tolist()


def _chunk_rows(spec, chunk):
    """The chunk as `parse_rows` gives rows, ``[(line, row), ...]``, with
    the spec's columns (numbers written back exactly: float(repr(x)) == x),
    for the row rules."""
    lines = np.frombuffer(chunk.lines, np.int64).tolist()
    count = len(lines)
    texts = np.frombuffer(chunk.numbers).reshape(
        count, len(spec.features)).tolist()
    texts = [[repr(value) for value in row] for row in texts]
    for row, feature, text in chunk.bad:
        texts[row][feature] = text
    rows = []
    for index, (line, step, label) in enumerate(zip(
            lines, chunk.steps, _expand(chunk.labels, count))):
        row = dict(zip(spec.features, texts[index]))
        row.update({spec.step: str(step), spec.label: label})
        if spec.split_column:
            row[spec.split_column] = _expand(chunk.splits, count)[index]
        rows.append((line, row))
    return rows


def _chunk_order(spec, chunk):
    """Positions of the chunk's rows in step order, or None when the row
    rules must decide (a step that is not an integer, or a duplicate)."""
    steps = chunk.steps
    if not all(type(step) is int for step in steps) or \
            len(set(steps)) != len(steps):
        return None
    return sorted(range(len(steps)), key=steps.__getitem__)


def sequence_from_chunk(spec, sequence_id, chunk):
    """`sequence_example` of a whole sequence's merged chunk: ``(split,
    first line, label text, serialized Example)``, the first line being
    the least of its rows' lines."""
    order = _chunk_order(spec, chunk)
    lines = np.frombuffer(chunk.lines, np.int64)
    splits_ok = chunk.splits is None or chunk.splits in SPLITS
    if (order is None or len(order) < 2 or chunk.bad or
            not isinstance(chunk.labels, str) or
            not isinstance(chunk.splits, (str, type(None))) or
            not splits_ok):
        ordered = order_sequence(spec, sequence_id, _chunk_rows(spec, chunk))
        split, example = sequence_example(spec, sequence_id, ordered)
        return (split, min(line for line, _, _ in ordered),
                ordered[0][2][spec.label], example.SerializeToString())
    first_line = int(lines[order[0]])
    label = _label_feature(spec, first_line, {spec.label: chunk.labels})
    values = np.frombuffer(chunk.numbers).reshape(
        len(order), len(spec.features))[order]
    return (chunk.splits, int(lines.min()), chunk.labels,
            encode_example(spec, sequence_id, values, label))


def windows_from_chunk(spec, sequence_id, chunk):
    """`window_examples` of a whole series' merged chunk."""
    order = _chunk_order(spec, chunk)
    if order is None or any(text for _, _, text in chunk.bad):
        ordered = order_sequence(spec, sequence_id, _chunk_rows(spec, chunk))
        yield from window_examples(spec, sequence_id, ordered)
        return
    count = len(order)
    lines = np.frombuffer(chunk.lines, np.int64).tolist()
    _check_series_length(spec, sequence_id, count, lines[order[0]])
    matrix = np.frombuffer(chunk.numbers).reshape(count, len(spec.features))
    columns = matrix.T.tolist()
    for row, feature, _ in chunk.bad:  # only missing values here
        columns[feature][row] = None
    labels = _expand(chunk.labels, count)
    splits = _expand(chunk.splits, count) if spec.split_column else None
    targets = [(lines[i], {spec.label: labels[i],
                           spec.split_column: splits and splits[i]})
               for i in order]
    yield from _windows(
        spec, sequence_id,
        {name: [column[i] for i in order]
         for name, column in zip(spec.features, columns)},
        [chunk.steps[i] for i in order], targets)


def _varint(number):
    """A non-negative int in protobuf's base-128 varint encoding."""
    out = bytearray()
    while number > 0x7F:
        out.append(number & 0x7F | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


def _field(tag, payload):
    """A length-delimited protobuf field: tag byte, length, payload."""
    return bytes([tag]) + _varint(len(payload)) + payload


@functools.lru_cache(maxsize=1024)
def _float_entry_heads(names, count):
    """Per feature name, the bytes of its Features map entry before its
    ``count`` packed float32 values: ``entry (1) > key (1), value (2) >
    Feature.float_list (2) > FloatList.value (1)``."""
    size = 4 * count
    float_list = 1 + len(_varint(size)) + size
    feature = 1 + len(_varint(float_list)) + float_list
    heads = []
    for name in names:
        key = _field(0x0A, name.encode())
        value_head = (b"\x12" + _varint(feature) + b"\x12" +
                      _varint(float_list) + b"\x0a" + _varint(size))
        entry = len(key) + len(value_head) + size
        heads.append(b"\x0a" + _varint(entry) + key + value_head)
    return heads


def _entry(name, feature_bytes):
    """A Features map entry: key ``name``, value a serialized Feature."""
    return _field(0x0A, _field(0x0A, name.encode()) +
                  _field(0x12, feature_bytes))


def _id_entry(sequence_id):
    """The sequence id's map entry (a Feature with a one-value
    bytes_list)."""
    return _entry(contracts.SEQUENCE_ID_FEATURE,
                  _field(0x0A, _field(0x0A, sequence_id.encode())))


def _features_example(heads, values, tail):
    """A serialized Example of float features (``heads`` from
    `_float_entry_heads`, ``values`` the float32 bytes of each feature)
    and the map entries ``tail``."""
    parts = []
    for head, data in zip(heads, values):
        parts += (head, data)
    parts.append(tail)
    return _field(0x0A, b"".join(parts))


def encode_example(spec, sequence_id, values, label_feature):
    """Serialized `_example` of float features ``values`` (steps x
    features, float64), written as protobuf wire format (Example.features >
    Features.feature map) instead of through ~15 message objects, which
    took most of the time per sequence. Parses to the same Example as
    `_example`. Values beyond float32's range, which protobuf turns to
    infinities, go through `_example` itself."""
    if np.abs(values).max() > FLOAT32_MAX:
        return _example(spec, sequence_id, dict(zip(
            spec.features, values.T.tolist())), label_feature
        ).SerializeToString()
    data, size = (np.ascontiguousarray(values.T, dtype="<f4").tobytes(),
                  4 * len(values))
    return _features_example(
        _float_entry_heads(tuple(spec.features), len(values)),
        [data[i * size:(i + 1) * size] for i in range(len(spec.features))],
        _entry(spec.label_feature, label_feature.SerializeToString()) +
        _id_entry(sequence_id))


def merged_chunks(parts):
    """``(sequence_id, Chunk)`` per sequence of ``parts`` (`Rows`: one
    bucket's, from every file and part), in id order: each sequence's
    pieces merged in order of their first line (a file's parts in file
    order)."""
    chunks = collections.defaultdict(list)
    for rows in parts:
        for sequence_id, chunk in sequence_chunks(rows):
            chunks[sequence_id].append(chunk)
    for sequence_id in sorted(chunks):
        found = chunks[sequence_id]
        if len(found) > 1:
            found.sort(key=lambda c: np.frombuffer(c.lines, np.int64, 1)[0])
        yield sequence_id, merge_chunks(found)


def sequence_examples(spec, parts):
    """`sequence_from_chunk` of every sequence in ``parts`` (`Rows`: one
    bucket's, from every file and part), as ``(sequence_id, (split, first
    line, label text, serialized Example))`` in id order.

    The sequences `sequence_from_chunk` would take its fast path for
    (integer steps without a duplicate, at least 2, no bad value, one label
    and one known split, a label that converts, values within float32's
    range) are checked, ordered and encoded all at once, with NumPy; any
    other goes through `sequence_from_chunk` of its merged chunk, so its
    example, or its error, is what that function gives.
    """
    rows = concat_rows(parts)
    count = len(rows.ids)
    if not count:
        return
    bounds, ids = _runs(rows.ids)
    run_ids = ids[bounds[:-1]].tolist()
    names = sorted(set(run_ids))
    code_of = {name: code for code, name in enumerate(names)}
    codes = np.repeat(np.array([code_of[i] for i in run_ids]),
                      np.diff(bounds))
    slow = np.zeros(len(names), bool)
    steps = rows.steps
    if not isinstance(steps, np.ndarray):  # texts or huge ints somewhere
        integer = np.array([type(step) is int and -2**63 <= step < 2**63
                            for step in steps])
        slow[codes[~integer]] = True
        steps = np.array([step if ok else 0
                          for step, ok in zip(steps, integer)], np.int64)
    if rows.bad:
        slow[codes[[row for row, _, _ in rows.bad]]] = True
    order = np.lexsort((steps, codes))
    codes, steps = codes[order], steps[order]
    starts = np.concatenate([[0], np.flatnonzero(np.diff(codes)) + 1])
    lengths = np.diff(np.append(starts, count))
    slow[lengths < 2] = True
    slow[codes[1:][(codes[1:] == codes[:-1]) &
                   (steps[1:] == steps[:-1])]] = True  # a duplicate step
    label_codes, labels = _text_codes(rows.labels)
    label_codes = label_codes[order]
    slow[np.minimum.reduceat(label_codes, starts) !=
         np.maximum.reduceat(label_codes, starts)] = True
    tails = {}
    for code, text in enumerate(labels):
        try:
            tails[code] = _entry(spec.label_feature, _label_feature(
                spec, 0, {spec.label: text}).SerializeToString())
        except DataError:  # `sequence_from_chunk` names its line
            slow[label_codes[starts] == code] = True
    split_of = [None] * len(names)
    if rows.splits is not None:
        split_codes, splits = _text_codes(rows.splits)
        split_codes = split_codes[order]
        slow[np.minimum.reduceat(split_codes, starts) !=
             np.maximum.reduceat(split_codes, starts)] = True
        known = np.array([split in SPLITS for split in splits])
        slow[~known[split_codes[starts]]] = True
        split_of = [splits[code] for code in split_codes[starts].tolist()]
    numbers = rows.numbers[order]
    # NaN (a bad value) and values beyond float32: slow sequences, whose
    # bytes here are not used.
    with np.errstate(invalid="ignore", over="ignore"):
        slow[np.maximum.reduceat(np.abs(numbers).max(axis=1), starts) >
             FLOAT32_MAX] = True
        data = np.ascontiguousarray(numbers.T, dtype="<f4").tobytes()
    first_lines = np.minimum.reduceat(rows.lines[order], starts).tolist()
    first_labels = label_codes[starts].tolist()
    features = tuple(spec.features)
    chunks = None
    for code, (name, start, length) in enumerate(zip(
            names, starts.tolist(), lengths.tolist())):
        if slow[code]:
            if chunks is None:
                chunks = dict(merged_chunks(parts))
            yield name, sequence_from_chunk(spec, name, chunks[name])
            continue
        label = first_labels[code]
        yield name, (split_of[code], first_lines[code], labels[label],
                     _features_example(
                         _float_entry_heads(features, length),
                         [data[4 * (row + start):4 * (row + start + length)]
                          for row in range(0, len(features) * count,
                                           count)],
                         tails[label] + _id_entry(name)))


def _text_codes(texts):
    """``(int64 code per text, distinct texts)``, codes in order of
    first appearance."""
    index = {}
    codes = np.fromiter((index.setdefault(text, len(index))
                         for text in texts), np.int64, len(texts))
    return codes, list(index)
