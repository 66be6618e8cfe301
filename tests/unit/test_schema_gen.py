"""SchemaGen that skips empty splits: TFX's executor on real TFDV
statistics, a train and eval split with examples and an empty validation
slice."""

import os

import pandas as pd
import tensorflow_data_validation as tfdv
import tfx
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import io_utils

from noisy_rnn.components.schema_gen import Executor, SchemaGen
from noisy_rnn.components.schema_gen.component import empty_splits


def statistics_artifact(tmp_path, splits):
    """An ExampleStatistics artifact of ``{split: DataFrame or None}``
    (None: a split without examples), as StatisticsGen writes it."""
    statistics = standard_artifacts.ExampleStatistics()
    statistics.uri = str(tmp_path / "statistics")
    statistics.split_names = artifact_utils.encode_split_names(list(splits))
    statistics.set_string_custom_property("tfx_version", tfx.__version__)
    for split, frame in splits.items():
        found = (statistics_pb2.DatasetFeatureStatisticsList(
            datasets=[statistics_pb2.DatasetFeatureStatistics(
                num_examples=0)]) if frame is None
            else tfdv.generate_statistics_from_dataframe(frame))
        folder = os.path.join(statistics.uri, f"Split-{split}")
        os.makedirs(folder)
        io_utils.write_bytes_file(os.path.join(folder, "FeatureStats.pb"),
                                  found.SerializeToString())
    return statistics


def test_an_empty_split_is_skipped_and_the_others_still_count(tmp_path):
    def frame(prefix, count):
        return pd.DataFrame({"sequence_id": [f"{prefix}-{i}"
                                             for i in range(count)],
                             "x": [float(i) for i in range(count)]})
    statistics = statistics_artifact(tmp_path, {
        "train": frame("train", 8), "validation": None,
        "eval": frame("eval", 3)})
    assert empty_splits(statistics) == ["validation"]
    schema = standard_artifacts.Schema()
    schema.uri = str(tmp_path / "schema")
    os.makedirs(schema.uri)
    component = SchemaGen(statistics=tfx.types.Channel(
        type=standard_artifacts.ExampleStatistics), infer_feature_shape=False)
    assert component.executor_spec.executor_class is Executor
    Executor().Do({"statistics": [statistics]}, {"schema": [schema]},
                  {"infer_feature_shape": 0, "exclude_splits": "[]"})
    inferred = io_utils.parse_pbtxt_file(
        os.path.join(schema.uri, "schema.pbtxt"), schema_pb2.Schema())
    assert {f.name: f.lifecycle_stage for f in inferred.feature} == {
        "sequence_id": schema_pb2.UNKNOWN_STAGE,
        "x": schema_pb2.UNKNOWN_STAGE}
    # The splits with examples all shaped it: every id is in the domain.
    assert sorted(inferred.string_domain[0].value) == sorted(
        [f"train-{i}" for i in range(8)] + [f"eval-{i}" for i in range(3)])
