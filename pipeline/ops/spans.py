"""Data spans (TFX's ``{SPAN}`` convention): ``<spans_dir>/span-<N>/*.csv``.

A span is one delivery of data. The pipeline reads the latest span
(``PipelineConfig.spans_dir``). Windows are built within what is read, so
what is read should hold each series' history, not only the new weeks: a
cumulative export (everything up to now) is the natural layout, and what
`split_into_spans` writes by default. With disjoint spans (each only its own
steps, ``--disjoint``), a rolling window of the latest K spans
(``--spans-window K``, `window_spans`) is read as one dataset: each series'
rows from those K spans are joined in step order, so windows cross span
boundaries, and training time stays bounded as spans keep arriving.
"""

import csv
import os

from noisy_rnn.schemas.dataset_spec import read_csv_lines
from noisy_rnn.schemas.spans import (  # noqa: F401  (re-exported)
    SPAN_DIR, list_spans, window_spans)


def split_into_spans(csv_path, step_column, dest, count, cumulative=True,
                     first_fraction=0.6):
    """Writes ``dest/span-1 .. span-<count>/<csv name>`` from ``csv_path``,
    by time (the ``step_column``). Returns the written paths.

    Span 1 holds the first ``first_fraction`` of the steps; each later span
    adds an equal share of the rest, so the last span ends with the data.
    ``cumulative`` spans hold everything up to their end (an export of all
    data so far); otherwise each span holds only its own steps.
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    reader = csv.reader(read_csv_lines(csv_path, ValueError))
    header = next(reader, None)
    if not header:
        raise ValueError(f"{csv_path}: line 1: empty CSV (no header row)")
    rows = list(reader)
    if step_column not in header:
        raise ValueError(f"{csv_path}: line 1: no column {step_column!r}")
    column = header.index(step_column)
    stepped = []  # (step, row)
    for line, row in enumerate(rows, start=2):
        try:
            stepped.append((int(row[column]), row))
        except (IndexError, ValueError):
            raise ValueError(f"{csv_path}: line {line}, column "
                             f"{step_column!r}: expected an integer step, got "
                             f"{row[column] if column < len(row) else 'nothing'!r}"
                             ) from None
    steps = sorted({step for step, _ in stepped})
    ends = [steps[min(len(steps) - 1, int(round(
        len(steps) * (first_fraction + (1 - first_fraction) * k /
                      max(count - 1, 1))) - 1))] for k in range(count)]
    if count == 1:
        ends = [steps[-1]]
    paths, start = [], None
    for number, end in enumerate(ends, start=1):
        chosen = [row for step, row in stepped if step <= end and
                  (cumulative or start is None or step > start)]
        span_dir = os.path.join(dest, f"span-{number}")
        os.makedirs(span_dir, exist_ok=True)
        path = os.path.join(span_dir, os.path.basename(csv_path))
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(chosen)
        paths.append(path)
        start = end
    return paths
