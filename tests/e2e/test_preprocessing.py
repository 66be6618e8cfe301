"""`preprocessing_fn` on tiny real inputs, through tf.Transform's Beam impl."""

import tempfile

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from noisy_rnn.pipeline.trainer.preprocessing import preprocessing_fn
from noisy_rnn.schemas import contracts

SPEC = {"a": tf.io.VarLenFeature(tf.float32),
        "b": tf.io.VarLenFeature(tf.float32),
        "y": tf.io.FixedLenFeature([1], tf.string)}
ROWS = [{"a": [1.0, 2.0, 3.0], "b": [10.0, 10.0, 40.0], "y": [b"up"]},
        {"a": [4.0, 5.0], "b": [40.0, 10.0], "y": [b"down"]},
        {"a": [6.0, 7.0, 8.0, 9.0], "b": [10.0, 40.0, 40.0, 10.0],
         "y": [b"up"]}]


def analyze_and_transform(task, label_spec, anchor=None, targets=None):
    spec = {**SPEC, "y": label_spec}
    targets = targets or [0.0, 1.0, 2.0]
    rows = ROWS if task == "classification" else [
        {**row, "y": [target]} for row, target in zip(ROWS, targets)]
    metadata = dataset_metadata.DatasetMetadata(
        schema_utils.schema_from_feature_spec(spec))
    config = {"features": ["a", "b"], "label": "y", "task": task,
              "anchor": anchor}
    with tft_beam.Context(temp_dir=tempfile.mkdtemp()):
        (transformed, _), _ = (rows, metadata) | tft_beam.AnalyzeAndTransformDataset(
            lambda inputs: preprocessing_fn(inputs, config))
    return transformed


def test_every_channel_is_z_scored_over_all_steps_of_all_examples():
    out = analyze_and_transform("classification",
                                tf.io.FixedLenFeature([1], tf.string))
    a = np.concatenate([row[contracts.transformed_name("a")] for row in out])
    b = np.concatenate([row[contracts.transformed_name("b")] for row in out])
    raw_a = np.arange(1.0, 10.0)
    np.testing.assert_allclose(a, (raw_a - raw_a.mean()) / raw_a.std(),
                               rtol=1e-5)
    raw_b = np.concatenate([row["b"] for row in ROWS])
    np.testing.assert_allclose(b, (raw_b - raw_b.mean()) / raw_b.std(),
                               rtol=1e-5)  # each channel its own statistics
    assert [len(row[contracts.transformed_name("a")]) for row in out] == [3, 2, 4]


def test_classification_label_is_a_vocabulary_id_most_frequent_first():
    out = analyze_and_transform("classification",
                                tf.io.FixedLenFeature([1], tf.string))
    assert [int(row[contracts.LABEL_KEY]) for row in out] == [0, 1, 0]


def test_regression_target_is_scaled_with_its_mean_and_std_alongside():
    out = analyze_and_transform("regression",
                                tf.io.FixedLenFeature([1], tf.float32))
    targets = np.array([0.0, 1.0, 2.0])
    for row, target in zip(out, targets):
        mean, std = row[contracts.LABEL_MEAN_KEY], row[contracts.LABEL_STD_KEY]
        assert mean == pytest.approx(1.0)
        assert std == pytest.approx(targets.std(), rel=1e-5)
        assert row[contracts.LABEL_KEY] * std + mean == pytest.approx(target,
                                                                  abs=1e-5)


def test_forecast_change_anchors_the_channel_and_target_on_the_last_value():
    """Channel ``a`` is forecast: inputs and target are taken relative to
    each example's last ``a``; serving's mean brings the level back."""
    targets = [3.5, 7.0, 8.0]  # next value of `a` after each window
    out = analyze_and_transform("regression",
                                tf.io.FixedLenFeature([1], tf.float32),
                                anchor="a", targets=targets)
    last = np.array([3.0, 5.0, 9.0])
    changes = np.array(targets) - last
    relative_a = np.concatenate([np.array(row["a"]) - row["a"][-1]
                                 for row in ROWS])
    a = np.concatenate([row[contracts.transformed_name("a")] for row in out])
    np.testing.assert_allclose(
        a, (relative_a - relative_a.mean()) / relative_a.std(), rtol=1e-5)
    # The level anchoring removed, a channel of its own: each window's last
    # `a` at every step, z-scored over all steps.
    level = np.concatenate([[row["a"][-1]] * len(row["a"]) for row in ROWS])
    np.testing.assert_allclose(
        np.concatenate([row[contracts.transformed_name(
            contracts.LEVEL_CHANNEL)] for row in out]),
        (level - level.mean()) / level.std(), rtol=1e-5)
    for row, target, anchor in zip(out, targets, last):
        mean, std = row[contracts.LABEL_MEAN_KEY], row[contracts.LABEL_STD_KEY]
        assert std == pytest.approx(changes.std(), rel=1e-5)
        assert mean == pytest.approx(changes.mean() + anchor, rel=1e-5)
        assert row[contracts.LABEL_KEY] * std + mean == pytest.approx(target,
                                                                  abs=1e-5)
