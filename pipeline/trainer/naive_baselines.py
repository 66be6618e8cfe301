"""Reference forecasts as an Evaluator metric: what a forecaster must beat.

Persistence (repeat the window's last value of the label's channel) and
seasonal-naive (repeat the value one season before the target) need no
training; a model whose MAE is not below theirs on the same eval windows is
worth less than doing nothing. The least-squares linear AR on the same
window (``ar``: fitted by the Trainer on the training windows, exported
as the model's ``least_squares_ar`` output) is the classical model a
forecaster must beat to be worth its complexity.
`NaiveForecastComparison` computes, from the raw window features TFMA
parses (or the reference's output) and the model's predictions on the
same examples:

- ``<name>_mae``: the naive forecast's mean absolute error, and
- ``mae_vs_<name>``: the model's MAE divided by it (below 1: the model wins),

which `noisy_rnn.pipeline.pipeline.eval_config` holds below 1 to bless.
TFMA loads the class by module path inside the Evaluator.
"""

from typing import Iterable, List, Optional

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types, metric_util
from tensorflow_model_analysis.proto import config_pb2

PERSISTENCE = "persistence"
SEASONAL_NAIVE = "seasonal_naive"
AR = "ar"


def naive_mae_name(name):
    """The naive forecast's own MAE metric."""
    return f"{name}_mae"


def ratio_name(name):
    """The model's MAE relative to the naive forecast's."""
    return f"mae_vs_{name}"


class NaiveForecastComparison(metric_types.Metric):
    """The model's MAE relative to a naive forecast read off each example's
    window (the metric's own value, so a `MetricConfig` threshold applies
    to it), and the naive forecast's MAE.

    Args:
      forecast: the naive forecast's name (``persistence``,
        ``seasonal_naive``).
      feature: the raw feature holding the label's channel over the window.
      position: index into that window of the value the naive forecast
        repeats (-1: the last step; ``window - 1 + horizon - season`` for
        seasonal-naive).
      output: if set, the forecast is the model's output of this name
        (e.g. ``least_squares_ar``) instead of a window value; a model
        without it (one exported before it existed) gets NaN.
      name: the ratio's name; default ``mae_vs_<forecast>``.
    """

    def __init__(self, forecast: str = PERSISTENCE, feature: str = "",
                 position: int = -1, output: str = "",
                 name: Optional[str] = None):
        super().__init__(_computations, name=name or ratio_name(forecast),
                         forecast=forecast, feature=feature,
                         position=position, output=output)


metric_types.register_metric(NaiveForecastComparison)


def _computations(
        name: str = "", forecast: str = PERSISTENCE, feature: str = "",
        position: int = -1, output: str = "",
        eval_config: Optional[config_pb2.EvalConfig] = None,
        model_names: Optional[List[str]] = None,
        output_names: Optional[List[str]] = None,
        example_weighted: bool = False) -> metric_types.MetricComputations:
    if not feature:
        raise ValueError(f"{forecast}: NaiveForecastComparison needs the "
                         f"feature holding the label's channel")
    computations = []
    for model_name in model_names or [""]:
        for output_name in output_names or [""]:
            keys = [metric_types.MetricKey(
                name=metric_name, model_name=model_name,
                output_name=output_name, example_weighted=example_weighted)
                for metric_name in (naive_mae_name(forecast), name)]
            computations.append(metric_types.MetricComputation(
                keys=keys,
                preprocessors=[metric_types.FeaturePreprocessor(
                    feature_keys=[feature])],
                combiner=_NaiveForecastCombiner(
                    keys, eval_config, feature, position, output,
                    example_weighted)))
    return computations


class _Sums:
    """Weighted absolute errors of the naive forecast and of the model."""

    __slots__ = ("naive", "model", "weight", "missing")

    def __init__(self):
        self.naive = self.model = self.weight = 0.0
        self.missing = False  # the model lacks the reference output


def window_values(value):
    """A parsed variable-length feature of one example as a flat array
    (TFMA hands dense arrays, sparse or ragged values)."""
    value = getattr(value, "values", value)
    return np.asarray(value, dtype=np.float64).reshape(-1)


class _NaiveForecastCombiner(beam.CombineFn):
    """Sums both absolute errors over the eval windows."""

    def __init__(self, keys, eval_config, feature, position, output,
                 example_weighted):
        self._naive_key, self._ratio_key = keys
        self._eval_config = eval_config
        self._feature = feature
        self._position = position
        self._output = output
        self._example_weighted = example_weighted

    def _forecasts(self, element):
        """The reference forecast of each of the element's examples: a
        window value, or the model's ``output`` (None if it has none)."""
        if not self._output:
            window = window_values(element.features[self._feature])
            return [window[self._position]]
        predictions = element.predictions
        if self._naive_key.model_name:
            predictions = predictions[self._naive_key.model_name]
        if not isinstance(predictions, dict) or \
                self._output not in predictions:
            return None
        return window_values(predictions[self._output])

    def create_accumulator(self):
        return _Sums()

    def add_input(self, accumulator: _Sums,
                  element: metric_types.StandardMetricInputs):
        forecasts = self._forecasts(element)
        if forecasts is None:
            accumulator.missing = True
            return accumulator
        triples = metric_util.to_label_prediction_example_weight(
            element, eval_config=self._eval_config,
            model_name=self._naive_key.model_name,
            output_name=self._naive_key.output_name,
            example_weighted=self._example_weighted)
        for forecast, (label, prediction, weight) in zip(forecasts, triples):
            label = float(np.asarray(label).reshape(-1)[0])
            weight = metric_util.safe_to_scalar(weight)
            accumulator.naive += weight * abs(forecast - label)
            accumulator.model += weight * abs(
                float(np.asarray(prediction).reshape(-1)[0]) - label)
            accumulator.weight += weight
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[_Sums]):
        accumulators = iter(accumulators)
        result = next(accumulators)
        for accumulator in accumulators:
            result.naive += accumulator.naive
            result.model += accumulator.model
            result.weight += accumulator.weight
            result.missing |= accumulator.missing
        return result

    def extract_output(self, accumulator: _Sums):
        if not accumulator.weight or accumulator.missing:
            return {self._naive_key: float("nan"),
                    self._ratio_key: float("nan")}
        naive = accumulator.naive / accumulator.weight
        model = accumulator.model / accumulator.weight
        return {self._naive_key: naive,
                # A perfect naive forecast cannot be beaten.
                self._ratio_key: model / naive if naive else float("inf")}
