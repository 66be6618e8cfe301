"""Broken versions of a long CSV's rows, for the drift tests and the drift
calibration bench: what a faulty export does to data. Rows are lists of
strings, header first; empty values stay empty."""

import csv
import os
import statistics


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def write_rows(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)


def _mapped(rows, column, function):
    at = rows[0].index(column)
    return [rows[0]] + [row[:at] + [function(row[at]) if row[at] else ""] +
                        row[at + 1:] for row in rows[1:]]


def scaled(rows, column, factor):
    """Every value of ``column`` times ``factor`` (e.g. ppb written as ppm)."""
    return _mapped(rows, column, lambda v: str(float(v) * factor))


def shifted(rows, column, stds):
    """``column`` shifted by ``stds`` of its own standard deviations."""
    at = rows[0].index(column)
    shift = stds * statistics.pstdev(float(r[at]) for r in rows[1:] if r[at])
    return _mapped(rows, column, lambda v: str(float(v) + shift))


def swapped(rows, first, second):
    """The values of two columns exchanged (a header out of order)."""
    i, j = rows[0].index(first), rows[0].index(second)
    out = [rows[0]]
    for row in rows[1:]:
        row = list(row)
        row[i], row[j] = row[j], row[i]
        out.append(row)
    return out


def collapsed(rows, column):
    """Every row's ``column`` set to the first row's value (one class)."""
    value = rows[1][rows[0].index(column)]
    return _mapped(rows, column, lambda _: value)
