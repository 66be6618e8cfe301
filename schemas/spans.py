"""The span layout of delivered data (TFX's ``{SPAN}`` convention):
``<spans_dir>/span-<N>/*.csv``, one folder per delivery. Shared by the
pipeline (which span to read, `noisy-rnn retrain`) and SequenceExampleGen's
executor (which re-checks the window where it runs). No TensorFlow unless
the folder is a URI (gs://...)."""

import os
import re

SPAN_DIR = re.compile(r"^span-(\d+)/?$")


def _listdir(path):
    path = str(path)
    if "://" in path:
        import tensorflow as tf  # pylint: disable=import-outside-toplevel
        return ([name.rstrip("/") for name in tf.io.gfile.listdir(path)]
                if tf.io.gfile.isdir(path) else None)
    return os.listdir(path) if os.path.isdir(path) else None


def span_numbers(spans_dir):
    """``{span number: its digits as the folder spells them}`` (``span-07``
    is span 7, spelled ``07``) of the folders under ``spans_dir`` that hold
    at least one CSV."""
    spans = {}
    for name in _listdir(spans_dir) or []:
        match = SPAN_DIR.match(name)
        if match and any(f.endswith(".csv") for f in
                         _listdir(os.path.join(spans_dir, name)) or []):
            spans[int(match.group(1))] = match.group(1)
    return spans


def list_spans(spans_dir):
    """Span numbers under ``spans_dir`` that hold at least one CSV, sorted."""
    return sorted(span_numbers(spans_dir))


def window_spans(spans_dir, size, latest=None):
    """``(spans, note)``: the span numbers a window of ``size`` spans ending
    at ``latest`` (default: the latest present) reads, in order, and a
    sentence saying which (and why fewer, when fewer spans exist).

    Raises ValueError naming the folder when no span is present or a span
    inside the window is missing (a window never skips a delivery)."""
    present = list_spans(spans_dir)
    if not present:
        raise ValueError(f"{spans_dir}: no span-<N>/ folder with a CSV")
    latest = present[-1] if latest is None else latest
    first = max(latest - size + 1, present[0])
    wanted = list(range(first, latest + 1))
    missing = sorted(set(wanted) - set(present))
    if missing:
        raise ValueError(
            f"{spans_dir}: span-{missing[0]} is missing (no folder or no CSV)"
            f" inside the window of {size} spans {wanted[0]}-{latest} "
            f"(--spans-window {size})")
    note = (f"spans {wanted[0]}-{latest}" if len(wanted) > 1
            else f"span {latest}")
    if len(wanted) < size:
        note += (f" (--spans-window {size}, but only {len(wanted)} "
                 f"span{'s' if len(wanted) > 1 else ''} up to span {latest})")
    return wanted, note
