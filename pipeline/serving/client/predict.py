"""Predictions for a CSV from a pushed model: the ``noisy-rnn predict`` engine.

A prediction CSV has the training CSV's layout (one row per time step) but
needs only the spec's ``sequence_id``, ``step`` and ``features`` columns: the
label and split columns may be absent. The dataset spec's ``mode`` decides
what one request item is:

- ``sequences``: one item per sequence (rows grouped by ``sequence_id``,
  ordered by ``step``);
- ``windows``: one item per series: its last ``window`` steps, which must be
  contiguous and complete (the model reads exactly those).

Items go to one of three targets, ``batch_size`` items per request:

- ``http://host:port`` / ``https://...``: TF Serving's REST API
  (``POST /v1/models/<model>[/versions/<v>]:predict``), row (``instances``)
  or columnar (``inputs``) format;
- ``grpc://host:port``: TF Serving's ``PredictionService.Predict``;
- anything else: a local SavedModel (a version directory, or a base
  directory of numeric versions: the latest), called in process.

Either serving signature can be used: ``examples`` (``serving_default``,
serialized ``tf.Example`` s) or ``sequences`` (``serving_sequences``, padded
float ``values`` and ``lengths``). By default REST sends ``sequences`` (plain
JSON numbers, no base64) and gRPC / local send ``examples`` (what TFMA
evaluated).

CSV problems raise `DataError` (from the SequenceExampleGen rules, naming
file, line and column) and spec problems `SpecError`, both `ValueError` s; a
rejected or failed request raises `PredictionError`.

TensorFlow is imported only when a request is built or sent, so importing
this module (the CLI does) stays cheap.
"""


import csv
import io
import sys

import numpy as np

from noisy_rnn.pipeline.serving.client.csv_items import read_items
from noisy_rnn.pipeline.serving.client.requests import request_inputs
from noisy_rnn.pipeline.serving.client.transports import (PredictionError,
                                                          default_signature,
                                                          open_target)
from noisy_rnn.schemas.dataset_spec import load_spec


def predict(target, inputs, model_name=None, signature=None,
            rest_format="instances", version=None, timeout=30.0):
    """Sends one request of raw named inputs; returns the raw outputs.

    The low-level call under `predict_csv`, also for hand-made requests.

    Args:
      target: ``http(s)://host:port``, ``grpc://host:port`` or a SavedModel
        path (see the module docstring).
      inputs: ``{input name: array or nested list}``.
      model_name: the served model's name (servers only).
      signature: ``examples`` / ``sequences``; default `default_signature`.
      rest_format: ``instances`` or ``inputs`` (REST only).
      version: a model version (servers only); default the latest.
      timeout: seconds per request (servers only).

    Returns:
      ``{output name: array (gRPC, local) or nested list (REST)}``.

    Raises:
      PredictionError: the request was rejected or could not be sent.
    """
    signature = signature or default_signature(target)
    with open_target(target, model_name, version, timeout) as connection:
        return connection(inputs, signature, rest_format)


# --- outputs -> rows -> CSV --------------------------------------------------

def _plain(value):
    """Arrays / numpy scalars / bytes -> Python lists, numbers and str."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        return value.item()
    return value


def _rows(keys, outputs):
    """One dict per item: ``key`` and each output's value for that item."""
    columns = {name: _plain(value) for name, value in outputs.items()}
    for name, column in columns.items():
        if len(column) != len(keys):
            raise PredictionError(f"output '{name}' has {len(column)} rows "
                                  f"for {len(keys)} items")
    return [dict(key=key, **{name: column[row]
                             for name, column in columns.items()})
            for row, key in enumerate(keys)]


def predict_csv(target, dataset_path, csv_path, model_name=None,
                signature=None, rest_format="instances", batch_size=64,
                timeout=30.0, version=None):
    """Predictions for every sequence (or series) of a prediction CSV.

    Args:
      target: ``http(s)://host:port`` (TF Serving REST), ``grpc://host:port``
        (TF Serving gRPC) or a SavedModel path (version or base directory).
      dataset_path: the dataset spec the model was trained with.
      csv_path: the prediction CSV: the spec's ``sequence_id``, ``step`` and
        feature columns (label and split columns are not needed).
      model_name: the served model's name; default the spec's ``name``.
      signature: ``examples`` (``serving_default``) or ``sequences``
        (``serving_sequences``); default ``sequences`` for REST, ``examples``
        for gRPC and local models.
      rest_format: ``instances`` (row) or ``inputs`` (columnar), for REST.
      batch_size: items per request.
      timeout: seconds per request (servers only).
      version: a model version number (servers only); default the latest.

    Returns:
      One dict per item, in CSV order: ``key`` (the sequence / series id)
      and the signature's outputs as plain Python values (classification:
      ``probabilities`` list, ``class_ids`` int, ``classes`` str;
      regression: ``prediction`` float).

    Raises:
      SpecError, DataError: the spec or the CSV is invalid (a `ValueError`).
      PredictionError: a request was rejected or could not be sent.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    spec = load_spec(dataset_path, check_csv=False)
    items = read_items(spec, csv_path)
    signature = signature or default_signature(target)
    rows = []
    with open_target(target, model_name or spec.name, version,
                      timeout) as connection:
        for start in range(0, len(items), batch_size):
            batch = items[start:start + batch_size]
            outputs = connection(request_inputs(batch, spec, signature),
                                 signature, rest_format)
            rows.extend(_rows([item.key for item in batch], outputs))
    return rows


def format_rows(rows, task, key_name="key"):
    """CSV text of `predict_csv` rows.

    Classification: ``key,class,probability`` (the predicted class and its
    probability); regression: ``key,prediction``. ``key_name`` names the
    first column (e.g. the spec's ``sequence_id``).
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if task == "classification":
        writer.writerow([key_name, "class", "probability"])
        for row in rows:
            probability = row["probabilities"][row["class_ids"]]
            writer.writerow([row["key"], row["classes"], f"{probability:.6g}"])
    else:
        writer.writerow([key_name, "prediction"])
        for row in rows:
            writer.writerow([row["key"], f"{row['prediction']:.6g}"])
    return out.getvalue()


def predict_to_csv(target, dataset_path, csv_path, output=None, **options):
    """``noisy-rnn predict``: `predict_csv`, written by `format_rows` to the
    file ``output`` (default: stdout). ``options`` are `predict_csv`'s
    keyword arguments. Returns the number of predictions.

    Raises what `predict_csv` raises (`ValueError` s for bad input,
    `PredictionError` for rejected requests) for the CLI to report.
    """
    spec = load_spec(dataset_path, check_csv=False)
    rows = predict_csv(target, dataset_path, csv_path, **options)
    text = format_rows(rows, spec.task, key_name=spec.sequence_id)
    if output:
        with open(output, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return len(rows)
