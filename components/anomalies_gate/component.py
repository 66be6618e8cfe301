"""AnomaliesGate: a component that fails when the data has anomalies.

TFX's ExampleValidator records anomalies but lets the pipeline go on. Put
this gate after it and make Transform depend on it: a run whose data breaks
the schema then stops before anything is trained, with a message listing
each anomaly by split and feature.
"""

import os

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils
from tfx.types.standard_artifacts import ExampleAnomalies


class AnomaliesFound(RuntimeError):
    """The examples do not match the schema."""


def describe_anomalies(anomalies_artifact):
    """One readable line per anomaly: ``split: feature 'x': description``."""
    problems = []
    for split in artifact_utils.decode_split_names(
            anomalies_artifact.split_names):
        path = os.path.join(anomalies_artifact.uri, f"Split-{split}",
                            "SchemaDiff.pb")
        anomalies = anomalies_pb2.Anomalies()
        with open(path, "rb") as f:
            anomalies.ParseFromString(f.read())
        for feature, info in sorted(anomalies.anomaly_info.items()):
            problems.append(f"{split}: feature '{feature}': "
                            f"{info.short_description}. {info.description}")
        if anomalies.HasField("dataset_anomaly_info"):
            info = anomalies.dataset_anomaly_info
            problems.append(f"{split}: dataset: {info.short_description}. "
                            f"{info.description}")
    return problems


@component
def AnomaliesGate(anomalies: InputArtifact[ExampleAnomalies]):
    """Raises `AnomaliesFound` listing every anomaly, if there is any.

    Example:

    ```python
    validator = ExampleValidator(statistics=..., schema=...)
    gate = AnomaliesGate(anomalies=validator.outputs["anomalies"])
    transform.add_upstream_node(gate)
    ```
    """
    problems = describe_anomalies(anomalies)
    if problems:
        raise AnomaliesFound(
            f"the data does not match the schema ({len(problems)} "
            f"anomalies), stopping before training:\n  " +
            "\n  ".join(problems))
