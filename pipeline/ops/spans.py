"""Data spans (TFX's ``{SPAN}`` convention): ``<spans_dir>/span-<N>/*.csv``.

A span is one delivery of data. The pipeline reads the latest span
(``PipelineConfig.spans_dir``). Windows are built within a span, so a span
should hold each series' history, not only the new weeks: a cumulative
export (everything up to now) is the natural layout, and what
`split_into_spans` writes by default.
"""

import csv
import os
import re

from noisy_rnn.schemas.dataset_spec import read_csv_lines

SPAN_DIR = re.compile(r"^span-(\d+)$")


def list_spans(spans_dir):
    """Span numbers under ``spans_dir`` that hold at least one CSV, sorted."""
    if not os.path.isdir(spans_dir):
        return []
    spans = []
    for name in os.listdir(spans_dir):
        match = SPAN_DIR.match(name)
        if match and any(f.endswith(".csv") for f in
                         os.listdir(os.path.join(spans_dir, name))):
            spans.append(int(match.group(1)))
    return sorted(spans)


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
