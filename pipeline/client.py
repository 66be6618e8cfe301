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

import base64
import collections
import contextlib
import csv
import dataclasses
import functools
import io
import json
import os
import re
import sys
import urllib.error
import urllib.request

import numpy as np

from schemas.spec import load_spec, read_csv_header

# Short signature names (what the CLI takes) -> serving signature keys.
SIGNATURES = {"examples": "serving_default", "sequences": "serving_sequences"}
REST_FORMATS = ("instances", "inputs")
# REST answers omit the output's name when a signature has one output; in
# this project that is the regression signatures' only output.
SINGLE_OUTPUT = "prediction"


class PredictionError(RuntimeError):
    """A request was rejected, or the target could not be reached.

    Attributes:
      message: the server's (or the local signature's) message, reduced to
        its first meaningful line.
      code: gRPC status code name, e.g. ``"INVALID_ARGUMENT"`` (gRPC and
        local targets), else None.
      http_status: HTTP status of a REST answer, else None.
      details: the message as received, unabridged.
    """

    def __init__(self, message, code=None, http_status=None):
        self.details = message
        self.message = readable_message(message)
        self.code = code
        self.http_status = http_status
        status = [s for s in (code, http_status and f"HTTP {http_status}")
                  if s]
        super().__init__(f"{self.message} ({', '.join(status)})" if status
                         else self.message)


@dataclasses.dataclass(frozen=True)
class Item:
    """One request item: a sequence, or the last window of a series.

    ``values`` holds one row per step of the features' values, in the spec's
    feature order; ``lines`` the CSV line of each step.
    """

    key: str
    values: tuple
    lines: tuple


# Lines of a TensorFlow error message that say where, not what.
_NOISE = re.compile(r"Graph execution error:|Detected at node|"
                    r"<stack traces unavailable>|\s*\[\[|\s*$")


def readable_message(message):
    """The first line of a TensorFlow / TF Serving error message that says
    what went wrong, without node names, op suffixes or echoed inputs."""
    message = str(message)
    line = next((line for line in message.splitlines()
                 if not _NOISE.match(line)), message)
    line = re.sub(r"\s*\[Op:[^\]]*\]\s*$", "", line)
    # tf.function binding errors echo every input after this point.
    line = line.split(". Received args:")[0]
    # Assert messages arrive with their quotes escaped.
    return line.replace("\\'", "'").strip()


# --- CSV -> items ------------------------------------------------------------

def _examples_rules():
    """The SequenceExampleGen CSV rules (imports TensorFlow)."""
    from components.sequence_example_gen import examples  # pylint: disable=import-outside-toplevel
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
    with open(csv_path, newline="", encoding="utf-8") as f:
        for line, row in rules.parse_rows(csv_path, f):
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


# --- items -> request inputs -------------------------------------------------

def _signature_key(signature):
    """``examples`` / ``sequences`` (or a full signature key) -> the key."""
    if signature in SIGNATURES.values():
        return signature
    if signature not in SIGNATURES:
        raise ValueError(f"unknown signature {signature!r} (use "
                         f"{' or '.join(SIGNATURES)})")
    return SIGNATURES[signature]


def _example_bytes(spec, item):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    columns = zip(*item.values)
    feature = {name: tf.train.Feature(float_list=tf.train.FloatList(
        value=column)) for name, column in zip(spec.features, columns)}
    return tf.train.Example(features=tf.train.Features(
        feature=feature)).SerializeToString()


def request_inputs(items, spec, signature):
    """Named input arrays of one request for ``items``.

    ``examples``: ``{"examples": object array of serialized tf.Examples}``;
    ``sequences``: ``{"values": float32 [batch, time, channels]`` (zero
    padded to the longest item) ``, "lengths": int32 [batch]}``.
    """
    if _signature_key(signature) == SIGNATURES["examples"]:
        return {"examples": np.array([_example_bytes(spec, item)
                                      for item in items], dtype=object)}
    lengths = np.array([len(item.values) for item in items], np.int32)
    values = np.zeros([len(items), lengths.max(), len(spec.features)],
                      np.float32)
    for row, item in enumerate(items):
        values[row, :len(item.values)] = item.values
    return {"values": values, "lengths": lengths}


def _to_json(value):
    """Arrays / nested lists -> JSON values; bytes -> ``{"b64": ...}``."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, np.generic):
        return value.item()
    return value


def rest_request_body(inputs, signature="sequences", rest_format="instances"):
    """The JSON body (a dict) of a TF Serving REST predict request.

    Args:
      inputs: ``{input name: array or nested list}``, first dimension the
        batch (e.g. from `request_inputs`; anything, for hand-made requests).
      signature: ``examples``, ``sequences`` or a signature key.
      rest_format: ``instances`` (row format: one entry per batch row; a bare
        value per row when there is one input, else an object naming the
        inputs) or ``inputs`` (columnar: ``{name: whole tensor}``).
    """
    if rest_format not in REST_FORMATS:
        raise ValueError(f"unknown REST format {rest_format!r} (use "
                         f"{' or '.join(REST_FORMATS)})")
    body = {"signature_name": _signature_key(signature)}
    columns = {name: _to_json(value) for name, value in inputs.items()}
    if rest_format == "inputs":
        body["inputs"] = columns
    elif len(columns) == 1:
        body["instances"] = next(iter(columns.values()))
    else:
        sizes = {name: len(value) for name, value in columns.items()}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"row format needs one batch size for all "
                             f"inputs, got {sizes}; use rest_format='inputs'")
        body["instances"] = [dict(zip(columns, row))
                             for row in zip(*columns.values())]
    return body


def grpc_request(inputs, model_name, signature="examples", version=None):
    """A ``tensorflow_serving.apis.predict_pb2.PredictRequest``.

    Args:
      inputs: ``{input name: array}``; each becomes a TensorProto of the
        array's own dtype (hand-made requests may use any).
      model_name: the served model's name.
      signature: ``examples``, ``sequences`` or a signature key.
      version: a model version number, or None for the latest.
    """
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from tensorflow_serving.apis import predict_pb2  # pylint: disable=import-outside-toplevel
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = _signature_key(signature)
    if version is not None:
        request.model_spec.version.value = int(version)
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return request


# --- transports: request inputs -> {output name: array or list} -------------

def target_kind(target):
    """``rest``, ``grpc`` or ``local``."""
    if re.match(r"https?://", target):
        return "rest"
    if target.startswith("grpc://"):
        return "grpc"
    return "local"


def default_signature(target):
    """``sequences`` for REST (plain JSON), ``examples`` otherwise."""
    return "sequences" if target_kind(target) == "rest" else "examples"


def resolve_model_dir(path):
    """A SavedModel version directory: ``path`` itself, or its numerically
    latest version subdirectory."""
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    versions = sorted((int(name) for name in (
        os.listdir(path) if os.path.isdir(path) else [])
        if name.isdigit() and
        os.path.isfile(os.path.join(path, name, "saved_model.pb"))))
    if not versions:
        raise PredictionError(
            f"{path}: no SavedModel here (saved_model.pb) nor in numeric "
            f"version subdirectories; a remote target starts with http://, "
            f"https:// or grpc://")
    return os.path.join(path, str(versions[-1]))


@functools.lru_cache(maxsize=4)
def _load_saved_model(model_dir):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    return tf.saved_model.load(model_dir)


class _LocalTarget:
    """Calls a signature of a SavedModel in process. Inputs are converted to
    the declared dtypes (as TF Serving converts JSON); the signature's
    Python binding rejects unconvertible values and incompatible shapes."""

    def __init__(self, path):
        self.model = _load_saved_model(resolve_model_dir(path))

    def __call__(self, inputs, signature, _rest_format):
        import tensorflow as tf  # pylint: disable=import-outside-toplevel
        from tensorflow.core.protobuf import error_codes_pb2  # pylint: disable=import-outside-toplevel
        key = _signature_key(signature)
        if key not in self.model.signatures:
            raise PredictionError(f"the SavedModel has no signature {key!r}",
                                  code="INVALID_ARGUMENT")
        try:
            outputs = self.model.signatures[key](**inputs)
        except tf.errors.OpError as error:
            raise PredictionError(
                error.message, code=error_codes_pb2.Code.Name(
                    error.error_code)) from error
        except (TypeError, ValueError) as error:
            raise PredictionError(str(error),
                                  code="INVALID_ARGUMENT") from error
        return {name: tensor.numpy() for name, tensor in outputs.items()}

    def close(self):
        pass


class _GrpcTarget:
    """TF Serving's gRPC ``PredictionService.Predict``."""

    def __init__(self, target, model_name, version, timeout):
        import grpc  # pylint: disable=import-outside-toplevel
        from tensorflow_serving.apis import prediction_service_pb2_grpc  # pylint: disable=import-outside-toplevel
        self.grpc, self.timeout = grpc, timeout
        self.model_name, self.version = model_name, version
        self.channel = grpc.insecure_channel(
            target[len("grpc://"):].rstrip("/"),
            options=[("grpc.max_send_message_length", -1),
                     ("grpc.max_receive_message_length", -1)])
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(
            self.channel)

    def __call__(self, inputs, signature, _rest_format):
        import tensorflow as tf  # pylint: disable=import-outside-toplevel
        request = grpc_request(inputs, self.model_name, signature,
                               self.version)
        try:
            response = self.stub.Predict(request, timeout=self.timeout)
        except self.grpc.RpcError as error:
            raise PredictionError(error.details() or str(error),
                                  code=error.code().name) from None
        return {name: tf.make_ndarray(proto)
                for name, proto in response.outputs.items()}

    def close(self):
        self.channel.close()


class _RestTarget:
    """TF Serving's REST predict API."""

    def __init__(self, target, model_name, version, timeout):
        version_part = f"/versions/{int(version)}" if version is not None \
            else ""
        self.url = (f"{target.rstrip('/')}/v1/models/{model_name}"
                    f"{version_part}:predict")
        self.timeout = timeout

    def __call__(self, inputs, signature, rest_format):
        body = json.dumps(rest_request_body(inputs, signature, rest_format))
        answer = self.post(body.encode())
        if "predictions" in answer:
            return _rows_to_columns(answer["predictions"])
        if "outputs" in answer:
            outputs = answer["outputs"]
            return outputs if isinstance(outputs, dict) \
                else {SINGLE_OUTPUT: outputs}
        raise PredictionError(f"{self.url}: answer has neither 'predictions' "
                              f"nor 'outputs': {str(answer)[:200]}")

    def post(self, body):
        request = urllib.request.Request(
            self.url, data=body, method="POST",
            headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as f:
                return json.loads(f.read())
        except urllib.error.HTTPError as error:
            text = error.read().decode("utf-8", "replace")
            try:
                message = json.loads(text)["error"]
            except (ValueError, KeyError, TypeError):
                message = text or error.reason
            raise PredictionError(message, http_status=error.code) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise PredictionError(f"cannot reach {self.url}: {reason}") \
                from None

    def close(self):
        pass


def _rows_to_columns(predictions):
    """Row-format ``predictions`` -> ``{output name: per-row values}``."""
    if predictions and isinstance(predictions[0], dict):
        return {name: [row[name] for row in predictions]
                for name in predictions[0]}
    return {SINGLE_OUTPUT: predictions}


@contextlib.contextmanager
def _open_target(target, model_name, version=None, timeout=30.0):
    kind = target_kind(target)
    if kind != "local" and not model_name:
        raise ValueError(f"{target}: a model name is needed for a server")
    if kind == "rest":
        connection = _RestTarget(target, model_name, version, timeout)
    elif kind == "grpc":
        connection = _GrpcTarget(target, model_name, version, timeout)
    else:
        connection = _LocalTarget(target)
    try:
        yield connection
    finally:
        connection.close()


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
    with _open_target(target, model_name, version, timeout) as connection:
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
    with _open_target(target, model_name or spec.name, version,
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
