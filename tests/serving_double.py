"""A test double of the TF Serving *server* (not of project code).

It serves a real SavedModel version through the real ``tensorflow_serving``
protos, on free ports of 127.0.0.1:

- gRPC ``PredictionService.Predict``: the model name (and version, if
  given) must match, else NOT_FOUND; ``signature_name`` defaults to
  ``serving_default``; inputs must be exactly the signature's and of its
  dtypes; a rejected input is INVALID_ARGUMENT;
- REST, as documented for TF Serving: ``POST /v1/models/<name>[/versions/
  <v>|/labels/<l>]:predict`` with row (``instances`` -> ``predictions``) or
  columnar (``inputs`` -> ``outputs``) bodies, JSON numbers converted to the
  signature's declared dtypes, ``{"b64": ...}`` for binary strings, errors
  as ``{"error": ...}`` (HTTP 400 for a bad request, 404 for an unknown
  model); ``GET /v1/models/<name>`` answers the model's status.

Errors raised by the signature (its asserts, or its Python binding for an
incompatible shape) become INVALID_ARGUMENT with the message's first
meaningful line. Unlike real TF Serving, which feeds shapes unchecked, a
shape incompatible with the signature is thus rejected at the boundary.

Use `serve` (a context manager) to start and stop both servers.
"""

import base64
import concurrent.futures
import contextlib
import dataclasses
import http.server
import json
import os
import re
import threading

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import error_codes_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

DEFAULT_SIGNATURE = "serving_default"
# gRPC status -> HTTP status, for the codes this double produces.
HTTP_STATUS = {grpc.StatusCode.INVALID_ARGUMENT: 400,
               grpc.StatusCode.NOT_FOUND: 404,
               grpc.StatusCode.FAILED_PRECONDITION: 400}
_REST_PATH = re.compile(r"/v1/models/(?P<name>[^/:]+)"
                        r"(?:/versions/(?P<version>\d+)|/labels/[^/:]+)?"
                        r"(?P<verb>:[a-z]+)?")
_NOISE = re.compile(r"Graph execution error:|Detected at node|"
                    r"<stack traces unavailable>|\s*\[\[|\s*$")


class ServingError(Exception):
    """A request failure with its gRPC status code."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message


def invalid(message):
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def first_meaningful_line(message):
    """The line of a TensorFlow error saying what went wrong; a binding
    error's echo of the inputs is cut off."""
    line = next((line for line in str(message).splitlines()
                 if not _NOISE.match(line)), str(message))
    return line.split(". Received args:")[0].strip()


class ServedModel:
    """One loaded SavedModel version, run by signature on named arrays."""

    def __init__(self, name, version_dir):
        self.name = name
        base = os.path.basename(os.path.normpath(version_dir))
        self.version = int(base) if base.isdigit() else 1
        self.loaded = tf.saved_model.load(version_dir)

    def check_servable(self, name, version=None):
        """NOT_FOUND unless ``name`` (and ``version``) is this model."""
        if name != self.name or (version is not None and
                                 int(version) != self.version):
            wanted = f"Specific({name}, {version})" if version is not None \
                else f"Latest({name})"
            raise ServingError(grpc.StatusCode.NOT_FOUND,
                               f"Servable not found for request: {wanted}")

    def input_specs(self, signature_name):
        """``{input name: TensorSpec}`` of a signature."""
        if signature_name not in self.loaded.signatures:
            raise invalid(f"Serving signature key \"{signature_name}\" not "
                          f"found.")
        return self.loaded.signatures[signature_name] \
            .structured_input_signature[1]

    def check_input_names(self, signature_name, names):
        specs = self.input_specs(signature_name)
        if set(names) != set(specs):
            raise invalid(
                f"input size does not match signature: {len(names)}!="
                f"{len(specs)} len({{{','.join(sorted(names))}}}) != "
                f"len({{{','.join(sorted(specs))}}}). Sent extra: "
                f"{{{','.join(sorted(set(names) - set(specs)))}}}. Missing "
                f"but required: {{{','.join(sorted(set(specs) - set(names)))}"
                f"}}.")
        return specs

    def run(self, signature_name, arrays):
        """Outputs (numpy) of the signature on arrays of its declared
        dtypes; its errors become INVALID_ARGUMENT (or their own code)."""
        self.check_input_names(signature_name, arrays)
        function = self.loaded.signatures[signature_name]
        try:
            outputs = function(**arrays)
        except tf.errors.OpError as error:
            code = grpc.StatusCode[error_codes_pb2.Code.Name(
                error.error_code)]
            raise ServingError(code, first_meaningful_line(error.message)) \
                from None
        except (TypeError, ValueError) as error:
            raise invalid(first_meaningful_line(error)) from None
        return {name: tensor.numpy() for name, tensor in outputs.items()}


class PredictionServicer(
        prediction_service_pb2_grpc.PredictionServiceServicer):
    """``Predict`` over gRPC; the other methods stay UNIMPLEMENTED."""

    def __init__(self, model):
        self.model = model

    def Predict(self, request, context):  # pylint: disable=invalid-name
        spec = request.model_spec
        signature = spec.signature_name or DEFAULT_SIGNATURE
        try:
            self.model.check_servable(
                spec.name, spec.version.value if spec.HasField("version")
                else None)
            specs = self.model.check_input_names(signature, request.inputs)
            arrays = {}
            for name, proto in request.inputs.items():
                if proto.dtype != specs[name].dtype.as_datatype_enum:
                    raise invalid(
                        f"input '{name}': expects {specs[name].dtype.name} "
                        f"but {tf.as_dtype(proto.dtype).name} is provided")
                try:
                    arrays[name] = tf.make_ndarray(proto)
                except Exception:  # pylint: disable=broad-except
                    raise invalid(f"tensor parsing error: {name}") from None
            outputs = self.model.run(signature, arrays)
        except ServingError as error:
            context.abort(error.code, error.message)
        response = predict_pb2.PredictResponse()
        response.model_spec.name = self.model.name
        response.model_spec.version.value = self.model.version
        response.model_spec.signature_name = signature
        for name, array in outputs.items():
            response.outputs[name].CopyFrom(tf.make_tensor_proto(array))
        return response


# --- REST: JSON <-> arrays ---------------------------------------------------

def _is_b64(value):
    return isinstance(value, dict) and set(value) == {"b64"}


def _json_scalar(value, dtype, name):
    """One JSON leaf as a value of ``dtype``; strict like TF Serving: no
    strings for numbers, no fractions for integers."""
    if dtype == tf.string:
        if _is_b64(value):
            try:
                return base64.b64decode(value["b64"], validate=True)
            except (ValueError, TypeError):
                raise invalid(f"input '{name}': invalid base64 "
                              f"{str(value['b64'])[:40]!r}") from None
        if isinstance(value, str):
            return value.encode("utf-8")
    elif dtype == tf.bool:
        if isinstance(value, bool):
            return value
    elif isinstance(value, bool):
        pass
    elif dtype.is_integer:
        if isinstance(value, int):
            return value
    elif dtype.is_floating and isinstance(value, (int, float)):
        return value
    raise invalid(f"input '{name}': expects {dtype.name} values, got the "
                  f"JSON value {json.dumps(value)[:40]}")


def json_to_array(value, dtype, name):
    """A (nested) JSON list as an array of ``dtype``; ragged lists are
    rejected."""
    shape, probe = [], value
    while isinstance(probe, list):
        shape.append(len(probe))
        if not probe:
            break
        probe = probe[0]
    leaves = []

    def walk(node, depth):
        if depth == len(shape):
            if isinstance(node, list):
                raise invalid(f"input '{name}': lists of different depths")
            leaves.append(_json_scalar(node, dtype, name))
        elif not isinstance(node, list) or len(node) != shape[depth]:
            raise invalid(f"input '{name}': ragged lists (every row of a "
                          f"tensor needs the same shape)")
        else:
            for child in node:
                walk(child, depth + 1)

    walk(value, 0)
    numpy_dtype = object if dtype == tf.string else dtype.as_numpy_dtype
    array = np.empty(len(leaves), dtype=numpy_dtype)
    array[:] = leaves
    return array.reshape(shape)


def _instances_to_arrays(instances, specs):
    """Row format: one entry per batch row (objects when several inputs)."""
    if not isinstance(instances, list) or not instances:
        raise invalid("'instances' must be a non-empty list")
    named = isinstance(instances[0], dict) and not _is_b64(instances[0])
    if not named:
        if len(specs) != 1:
            raise invalid(f"instances must be objects naming the inputs "
                          f"{sorted(specs)} of a multi-input signature")
        [name] = specs
        return {name: json_to_array(instances, specs[name].dtype, name)}
    for index, row in enumerate(instances):
        if not isinstance(row, dict) or _is_b64(row) or \
                set(row) != set(specs):
            got = sorted(row) if isinstance(row, dict) else type(row).__name__
            raise invalid(f"instance {index}: expects the inputs "
                          f"{sorted(specs)}, got {got}")
    return {name: json_to_array([row[name] for row in instances], spec.dtype,
                                name) for name, spec in specs.items()}


def _columns_to_arrays(inputs, specs):
    """Columnar format: ``{name: whole tensor}`` (a bare tensor if one
    input)."""
    if not isinstance(inputs, dict) or _is_b64(inputs):
        if len(specs) != 1:
            raise invalid(f"'inputs' must be an object naming the inputs "
                          f"{sorted(specs)}")
        inputs = {next(iter(specs)): inputs}
    unknown = sorted(set(inputs) - set(specs))
    if unknown:
        raise invalid(f"input '{unknown[0]}' is not in the signature's "
                      f"inputs {sorted(specs)}")
    return {name: json_to_array(value, specs[name].dtype, name)
            for name, value in inputs.items()}


def _output_json(name, array):
    """Strings as text (base64 objects for ``*_bytes`` outputs)."""
    def leaf(value):
        if isinstance(value, bytes):
            if name.endswith("_bytes"):
                return {"b64": base64.b64encode(value).decode("ascii")}
            return value.decode("utf-8", "replace")
        return value

    def walk(value):
        return [walk(v) for v in value] if isinstance(value, list) \
            else leaf(value)
    return walk(array.tolist())


def rest_predict(model, body):
    """TF Serving's REST predict on a decoded JSON body."""
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object")
    if ("instances" in body) == ("inputs" in body):
        raise invalid("Missing 'inputs' or 'instances' key" if "inputs" not
                      in body else "Not allowed to have both 'inputs' and "
                                   "'instances' keys in the request")
    signature = body.get("signature_name", DEFAULT_SIGNATURE)
    specs = model.input_specs(signature)
    if "instances" in body:
        outputs = model.run(signature,
                            _instances_to_arrays(body["instances"], specs))
        columns = {name: _output_json(name, a) for name, a in outputs.items()}
        if len(columns) == 1:
            return {"predictions": next(iter(columns.values()))}
        return {"predictions": [dict(zip(columns, row)) for row in
                                zip(*columns.values())]}
    outputs = model.run(signature, _columns_to_arrays(body["inputs"], specs))
    columns = {name: _output_json(name, a) for name, a in outputs.items()}
    return {"outputs": next(iter(columns.values())) if len(columns) == 1
            else columns}


class RestHandler(http.server.BaseHTTPRequestHandler):
    """TF Serving's REST API for ``self.server.model``."""

    def log_message(self, *args):  # pylint: disable=arguments-differ
        pass  # quiet tests

    def _reply(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, answer):
        try:
            self._reply(200, answer())
        except ServingError as error:
            self._reply(HTTP_STATUS.get(error.code, 500),
                        {"error": error.message})
        except Exception as error:  # pylint: disable=broad-except
            self._reply(500, {"error": f"{type(error).__name__}: {error}"})

    def _route(self, verb):
        match = _REST_PATH.fullmatch(self.path)
        if not match or match["verb"] != verb:
            raise ServingError(grpc.StatusCode.NOT_FOUND,
                               f"Malformed request: {self.command} "
                               f"{self.path}")
        self.server.model.check_servable(match["name"], match["version"])

    def do_GET(self):  # pylint: disable=invalid-name
        def status():
            self._route(None)
            return {"model_version_status": [{
                "version": str(self.server.model.version),
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""}}]}
        self._handle(status)

    def do_POST(self):  # pylint: disable=invalid-name
        def predict():
            self._route(":predict")
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length))
            except ValueError as error:
                raise invalid(f"JSON Parse error: {error}") from None
            return rest_predict(self.server.model, body)
        self._handle(predict)


@dataclasses.dataclass
class Servers:
    """The running double: targets for `noisy_rnn.pipeline.serving.client`."""

    grpc_target: str
    http_target: str
    model: ServedModel


@contextlib.contextmanager
def serve(version_dir, model_name):
    """Serves the SavedModel ``version_dir`` as ``model_name`` over gRPC
    and REST on free 127.0.0.1 ports; yields `Servers`, stops both after."""
    model = ServedModel(model_name, version_dir)
    grpc_server = grpc.server(
        concurrent.futures.ThreadPoolExecutor(max_workers=4))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionServicer(model), grpc_server)
    grpc_port = grpc_server.add_insecure_port("127.0.0.1:0")
    grpc_server.start()
    http_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                  RestHandler)
    http_server.daemon_threads = True
    http_server.model = model
    thread = threading.Thread(target=http_server.serve_forever,
                              name="rest-double", daemon=True)
    thread.start()
    try:
        yield Servers(grpc_target=f"grpc://127.0.0.1:{grpc_port}",
                      http_target=f"http://127.0.0.1:"
                                  f"{http_server.server_address[1]}",
                      model=model)
    finally:
        http_server.shutdown()
        http_server.server_close()
        thread.join()
        grpc_server.stop(grace=None).wait()
