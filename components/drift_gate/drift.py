"""Drift of new data against the data the served model was trained on.

Per feature one distance between two TFDV statistics (TFDV computes it from
the histograms and value counts StatisticsGen wrote):

- numeric features (the model's channels, a regression target): the
  Jensen-Shannon divergence of the value distributions (0: equal, 1:
  disjoint), robust to a changed number of examples;
- categorical features (a class label): the L-infinity distance between the
  category frequencies (the largest change of any category's share).

`DEFAULT_THRESHOLDS` were calibrated on consecutive natural spans of CO2,
JapaneseVowels and a generated dataset, against the four corruptions the
gate must catch (``bench/drift_calibration.py`` prints every distance).
"""

import copy
import dataclasses
import os
from typing import Dict, List

import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2

JSD = "Jensen-Shannon divergence"
L_INFINITY = "L-infinity distance"
# Calibrated on the train splits of 3 cumulative spans each: natural spans
# measured up to 0.134 (JSD, CO2's trend) and 0.167 (L-infinity,
# JapaneseVowels, whose file is ordered by speaker); the corruptions at
# least 0.316 (JSD, two sine channels swapped) and 0.664 (L-infinity).
DEFAULT_THRESHOLDS = {JSD: 0.2, L_INFINITY: 0.3}
_MEASURES = {
    anomalies_pb2.DriftSkewInfo.Measurement.JENSEN_SHANNON_DIVERGENCE: JSD,
    anomalies_pb2.DriftSkewInfo.Measurement.L_INFTY: L_INFINITY}


@dataclasses.dataclass(frozen=True)
class FeatureDrift:
    """One feature's distance to the served model's training data."""

    feature: str
    measure: str        # JSD or L_INFINITY
    value: float
    threshold: float

    @property
    def exceeded(self) -> bool:
        return self.value > self.threshold

    def describe(self) -> str:
        return (f"feature '{self.feature}': {self.measure} {self.value:.3g} "
                f"against the served model's training data (threshold "
                f"{self.threshold:g})")


def load_statistics(statistics_uri: str, split: str):
    """The ``DatasetFeatureStatisticsList`` of one split of an
    ``ExampleStatistics`` artifact."""
    return tfdv.load_stats_binary(
        os.path.join(statistics_uri, f"Split-{split}", "FeatureStats.pb"))


def measure_of(feature: schema_pb2.Feature) -> str:
    """JSD for numeric features, L-infinity for categorical ones."""
    if feature.type == schema_pb2.FLOAT or (
            feature.type == schema_pb2.INT and
            not feature.int_domain.is_categorical):
        return JSD
    return L_INFINITY


def measure_drift(current, baseline, schema: schema_pb2.Schema,
                  features: List[str],
                  thresholds: Dict[str, float]) -> List[FeatureDrift]:
    """The distance of each of ``features`` between the ``current`` and the
    ``baseline`` statistics, with its threshold (``thresholds`` per feature
    name, else `DEFAULT_THRESHOLDS` for its measure). Sorted by feature.

    A feature absent from either side is not compared here: the schema
    check (ExampleValidator) reports missing features.
    """
    schema = copy.deepcopy(schema)
    chosen = {}
    for feature in schema.feature:
        if feature.name not in features:
            continue
        measure = measure_of(feature)
        threshold = thresholds.get(feature.name, DEFAULT_THRESHOLDS[measure])
        feature.ClearField("drift_comparator")  # ours only, not a curated one
        comparator = feature.drift_comparator
        if measure == JSD:
            comparator.jensen_shannon_divergence.threshold = threshold
        else:
            comparator.infinity_norm.threshold = threshold
        chosen[feature.name] = (measure, threshold)
    anomalies = tfdv.validate_statistics(current, schema,
                                         previous_statistics=baseline)
    measured = {}
    for info in anomalies.drift_skew_info:
        name = ".".join(info.path.step)
        for measurement in info.drift_measurements:
            if name in chosen and \
                    _MEASURES.get(measurement.type) == chosen[name][0]:
                measured[name] = measurement.value
    return [FeatureDrift(name, measure, measured[name], threshold)
            for name, (measure, threshold) in sorted(chosen.items())
            if name in measured]
