"""The ``noisy-rnn predict`` client: CSV handling (`csv_items`), request
building (`requests`), transports to TF Serving or a local SavedModel
(`transports`), and the calls that tie them together (`predict`)."""

from noisy_rnn.pipeline.serving.client.csv_items import Item, read_items
from noisy_rnn.pipeline.serving.client.predict import (format_rows, predict,
                                                       predict_csv,
                                                       predict_to_csv)
from noisy_rnn.pipeline.serving.client.requests import (grpc_request,
                                                        request_inputs,
                                                        rest_request_body)
from noisy_rnn.pipeline.serving.client.transports import (PredictionError,
                                                          readable_message)

__all__ = ["Item", "PredictionError", "format_rows", "grpc_request",
           "predict", "predict_csv", "predict_to_csv", "read_items",
           "readable_message", "request_inputs", "rest_request_body"]
