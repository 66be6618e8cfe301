"""DriftGate: stops the run when the new data has drifted away from the data
the served model was trained on.

A schema inferred from each run's own data accepts any scale or shift, and
the Evaluator compares candidate and baseline on the new (equally broken)
eval split: a model trained on broken data would win. This gate compares
the new statistics with the statistics of the served model's own training
run (resolved by `LatestPushedStatisticsStrategy`), per feature, before
Transform; see `drift.py` for the distances and their default thresholds.
"""

import json
import os

from tfx.dsl.component.experimental.annotations import (InputArtifact,
                                                        OutputArtifact,
                                                        Parameter)
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact
from tfx.types.standard_artifacts import ExampleStatistics, Schema
from tfx.utils import io_utils

from noisy_rnn.components.drift_gate import drift
from noisy_rnn.schemas import contracts

# The new data's train split is compared with the served model's: the data
# each model learns from. Not the eval split: under a time split it holds
# the newest rows, which for a trending series (CO2) lie outside the
# training range by nature (Jensen-Shannon divergence ~1.0 between natural
# spans, as high as a x1000 corruption; bench/drift_calibration.py).
BASELINE_SPLIT = "train"
SPLITS = ("train",)


class DriftReport(artifact.Artifact):
    """Every measured distance, as ``drift.json`` (or why none was)."""

    TYPE_NAME = "NoisyRnnDriftReport"


class DriftFound(RuntimeError):
    """The new data drifted past a threshold."""


def _schema(schema_artifact):
    return io_utils.SchemaReader().read(
        io_utils.get_only_uri_in_dir(schema_artifact.uri))


@component
def DriftGate(statistics: InputArtifact[ExampleStatistics],
              schema: InputArtifact[Schema],
              report: OutputArtifact[DriftReport],
              features: Parameter[str],
              thresholds: Parameter[str] = "{}",
              baseline_statistics: InputArtifact[ExampleStatistics] = None):
    """Raises `DriftFound` with one line per drifted feature.

    Args:
      statistics: the new data's statistics (StatisticsGen).
      schema: the schema the run validates against (types say which
        features are numeric and which categorical).
      report: gets ``drift.json``: every distance and its threshold.
      features: JSON list of the features to compare (the model's channels
        and the label).
      thresholds: JSON ``{feature: threshold}`` overriding
        `drift.DEFAULT_THRESHOLDS`.
      baseline_statistics: the served model's training statistics; none on
        the first run (nothing served yet) or when they are this run's own,
        and the check is then skipped and says so.

    Example:

    ```python
    gate = DriftGate(statistics=statistics_gen.outputs["statistics"],
                     schema=schema_gen.outputs["schema"],
                     baseline_statistics=resolver.outputs["statistics"],
                     features=json.dumps(["co2", "co2_target"]))
    transform.add_upstream_node(gate)
    ```
    """
    names, limits = json.loads(features), json.loads(thresholds)
    result = {"compared": False, "drifts": []}
    if baseline_statistics is None:
        result["reason"] = ("no served model's training data to compare "
                            "with (nothing served yet, or the served model "
                            "was trained on this very data)")
    else:
        result.update(compared=True,
                      baseline_statistics=baseline_statistics.uri)
        baseline = drift.load_statistics(baseline_statistics.uri,
                                         BASELINE_SPLIT)
        parsed_schema = _schema(schema)
        for split in SPLITS:
            current = drift.load_statistics(statistics.uri, split)
            for found in drift.measure_drift(current, baseline, parsed_schema,
                                             names, limits):
                result["drifts"].append({"split": split,
                                         **found.__dict__,
                                         "exceeded": found.exceeded})
    with open(os.path.join(report.uri, contracts.DRIFT_REPORT_FILE), "w",
              encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    exceeded = [d for d in result["drifts"] if d["exceeded"]]
    if exceeded:
        lines = [f"{d['split']}: " + drift.FeatureDrift(
            d["feature"], d["measure"], d["value"], d["threshold"]).describe()
            for d in exceeded]
        raise DriftFound(
            f"the new data drifted from the served model's training data "
            f"({len(exceeded)} of {len(result['drifts'])} comparisons over "
            f"the threshold), stopping before training:\n  " +
            "\n  ".join(lines))
