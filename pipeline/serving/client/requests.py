"""Request items -> the inputs of one request, and the REST (JSON) and gRPC
(`PredictRequest`) bodies that carry them. No I/O."""

import base64

import numpy as np

from noisy_rnn.schemas import contracts

REST_FORMATS = ("instances", "inputs")



def signature_key(signature):
    """``examples`` / ``sequences`` (or a full signature key) -> the key."""
    if signature in contracts.SIGNATURES.values():
        return signature
    if signature not in contracts.SIGNATURES:
        raise ValueError(f"unknown signature {signature!r} (use "
                         f"{' or '.join(contracts.SIGNATURES)})")
    return contracts.SIGNATURES[signature]


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
    if signature_key(signature) == contracts.SIGNATURES["examples"]:
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
    body = {"signature_name": signature_key(signature)}
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
    request.model_spec.signature_name = signature_key(signature)
    if version is not None:
        request.model_spec.version.value = int(version)
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return request


