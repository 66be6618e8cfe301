"""Transports: request inputs -> ``{output name: array or list}`` from TF
Serving's REST API, its gRPC ``PredictionService``, or a local SavedModel
called in process; `PredictionError` for whatever any of them rejects."""

import contextlib
import functools
import json
import os
import re
import urllib.error
import urllib.request

from noisy_rnn.pipeline.serving.client.requests import (grpc_request,
                                                        rest_request_body,
                                                        signature_key)
from noisy_rnn.schemas import contracts

# REST answers omit the output's name when a signature has one output; in
# this project that is the regression signatures' only output (forecasting
# a channel's own future, ``least_squares_ar`` comes beside it).
SINGLE_OUTPUT = contracts.PREDICTION


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


class LocalTarget:
    """Calls a signature of a SavedModel in process. Inputs are converted to
    the declared dtypes (as TF Serving converts JSON); the signature's
    Python binding rejects unconvertible values and incompatible shapes."""

    def __init__(self, path):
        self.model = _load_saved_model(resolve_model_dir(path))

    def __call__(self, inputs, signature, _rest_format):
        import tensorflow as tf  # pylint: disable=import-outside-toplevel
        from tensorflow.core.protobuf import error_codes_pb2  # pylint: disable=import-outside-toplevel
        key = signature_key(signature)
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


class GrpcTarget:
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


class RestTarget:
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
def open_target(target, model_name, version=None, timeout=30.0):
    kind = target_kind(target)
    if kind != "local" and not model_name:
        raise ValueError(f"{target}: a model name is needed for a server")
    if kind == "rest":
        connection = RestTarget(target, model_name, version, timeout)
    elif kind == "grpc":
        connection = GrpcTarget(target, model_name, version, timeout)
    else:
        connection = LocalTarget(target)
    try:
        yield connection
    finally:
        connection.close()

