"""The Evaluator's extractors: TFMA's defaults, with variable-length
features split into examples in one pass per batch.

TFMA splits each batch of extracts into one extract per example before
computing metrics. A sequence feature (a float list per example) arrives
as a `VarLenTensorValue`, whose row iterator scans the whole batch's
indices for every row: quadratic in the batch size (up to 1,000 examples),
and the largest cost of evaluating long eval splits. `SplitVarLenRows`,
placed just before TFMA's `UnbatchExtractor`, hands it each such feature
already cut into the same rows (views of the same values, an empty array
for an empty row), found with one binary search per batch; the unbatched
extracts, and so every metric, are unchanged.

And before that split, `KeepUsedFeatures` drops what no later stage
reads: the ``transformed_features`` (the labels are already extracted from
them) and every raw feature that no metric's ``feature`` or slicing spec
names. Each example's extract otherwise carried its sequences twice (raw
and transformed) through the split and the metrics' stages.

TFX's Evaluator calls `custom_extractors` from this module (its
``module_path``).
"""

import json

import apache_beam as beam
import numpy as np
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis import constants
from tensorflow_model_analysis.api import types
from tensorflow_model_analysis.extractors import unbatch_extractor

SPLIT_STAGE_NAME = "SplitVarLenRows"
KEEP_STAGE_NAME = "KeepUsedFeatures"


def var_len_rows(value):
    """The rows of a `VarLenTensorValue`, as its `dense_rows()` gives them
    (rows are contiguous and in order: the type checks both)."""
    if not value.indices.size:
        return []
    rows = value.indices[:, 0]
    numbers = np.arange(int(value.dense_shape[0]))
    starts = np.searchsorted(rows, numbers, "left").tolist()
    stops = np.searchsorted(rows, numbers, "right").tolist()
    return [value.values[start:stop] if stop > start else np.array([])
            for start, stop in zip(starts, stops)]


def _split_nested(extracts, top=True):
    """A copy of ``extracts`` whose `VarLenTensorValue` leaves below the top
    level are lists of rows (top-level lists take TFMA's legacy path)."""
    return {key: (_split_nested(value, top=False)
                  if isinstance(value, dict)
                  else var_len_rows(value)
                  if not top and isinstance(value, types.VarLenTensorValue)
                  else value)
            for key, value in extracts.items()}


def SplitVarLenRows():  # pylint: disable=invalid-name
    """An extractor that splits nested variable-length values into rows
    (see the module's docstring)."""
    return tfma.extractors.Extractor(
        stage_name=SPLIT_STAGE_NAME,
        ptransform=beam.Map(_split_nested))


def used_features(eval_config):
    """The raw features read after the unbatching: those a metric's
    ``config`` names as its ``feature`` (the naive forecasts' channel) or
    a slicing spec slices by."""
    names = set()
    for metrics_spec in eval_config.metrics_specs:
        for metric in metrics_spec.metrics:
            try:
                config = json.loads(metric.config) if metric.config else {}
            except ValueError:
                continue
            if isinstance(config, dict) and \
                    isinstance(config.get("feature"), str):
                names.add(config["feature"])
    specs = list(eval_config.slicing_specs) + [
        spec for cross in eval_config.cross_slicing_specs
        for spec in [cross.baseline_spec, *cross.slicing_specs]]
    for spec in specs:
        names.update(spec.feature_keys)
        names.update(spec.feature_values)
    return names


def _kept(extracts, features):
    """``extracts`` without transformed features, and with only the raw
    ``features`` named."""
    kept = {key: value for key, value in extracts.items()
            if key != constants.TRANSFORMED_FEATURES_KEY}
    if isinstance(kept.get(constants.FEATURES_KEY), dict):
        kept[constants.FEATURES_KEY] = {
            name: value
            for name, value in kept[constants.FEATURES_KEY].items()
            if name in features}
    return kept


def KeepUsedFeatures(eval_config):  # pylint: disable=invalid-name
    """An extractor that drops the features no later stage reads (see the
    module's docstring)."""
    features = used_features(eval_config)
    return tfma.extractors.Extractor(
        stage_name=KEEP_STAGE_NAME,
        ptransform=beam.Map(_kept, features))


def custom_extractors(eval_shared_model, eval_config, tensor_adapter_config):
    """TFMA's default extractors, `KeepUsedFeatures` and `SplitVarLenRows`
    before the unbatching one (TFX's Evaluator calls this by name)."""
    extractors = tfma.default_extractors(
        eval_shared_model=eval_shared_model, eval_config=eval_config,
        tensor_adapter_config=tensor_adapter_config)
    names = [extractor.stage_name for extractor in extractors]
    position = names.index(unbatch_extractor.UNBATCH_EXTRACTOR_STAGE_NAME)
    return extractors[:position] + [KeepUsedFeatures(eval_config),
                                    SplitVarLenRows()] + \
        extractors[position:]
