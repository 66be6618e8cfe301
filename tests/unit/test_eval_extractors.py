"""The Evaluator's extractors split sequence features into examples as
TFMA's own row iterator does, in one pass: the unbatched extracts, from
which every metric is computed, are the same."""

import numpy as np
import pytest
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.api import types
from tensorflow_model_analysis.extractors import unbatch_extractor

from noisy_rnn.pipeline import pipeline
from noisy_rnn.pipeline.config import PipelineConfig
from noisy_rnn.pipeline.trainer import extractors


def var_len(lengths, seed=0):
    """A batch of float lists of ``lengths`` (0: an empty row)."""
    rng = np.random.default_rng(seed)
    rows = [rng.normal(size=n).astype(np.float32) for n in lengths]
    indices = np.array([(row, column) for row, n in enumerate(lengths)
                        for column in range(n)], np.int64).reshape(-1, 2)
    return types.VarLenTensorValue(
        np.concatenate(rows) if rows else np.zeros(0, np.float32), indices,
        np.array([len(lengths), max(lengths, default=0)]))


@pytest.mark.parametrize("lengths", [[3, 1, 4], [0, 2, 0, 5, 0], [7], [0, 0],
                                     list(range(1, 60))])
def test_rows_are_the_row_iterator_s(lengths):
    value = var_len(lengths)
    expected = list(value.dense_rows())
    found = extractors.var_len_rows(value)
    assert len(found) == len(expected)
    for row, want in zip(found, expected):
        assert row.dtype == want.dtype and np.array_equal(row, want)


def test_unbatched_extracts_are_unchanged():
    """A batch as TFMA holds it (nested sequence features, one of them
    with empty rows, a dense feature, labels, predictions, raw inputs):
    TFMA's unbatching gives the same extracts with the rows cut first."""
    lengths = [4, 0, 9, 2, 2, 0]
    batch = {
        "features": {"a": var_len(lengths, 1), "b": var_len(lengths, 2),
                     "label": np.array([[1.0], [0.0], [2.0], [1.0], [0.0],
                                        [1.0]])},
        "labels": np.arange(6.0),
        "predictions": np.linspace(0, 1, 12).reshape(6, 2),
        "input": np.array([b"x%d" % i for i in range(6)], dtype=object),
    }
    split = extractors._split_nested(batch)
    assert isinstance(split["features"]["a"], list)
    assert isinstance(batch["features"]["a"], types.VarLenTensorValue)
    before = unbatch_extractor._extract_unbatched_inputs(batch)
    after = unbatch_extractor._extract_unbatched_inputs(split)
    assert len(before) == len(after) == 6

    def same(x, y):
        if isinstance(x, dict):
            return x.keys() == y.keys() and all(same(x[k], y[k]) for k in x)
        return (type(x) is type(y) and np.shape(x) == np.shape(y) and
                getattr(x, "dtype", None) == getattr(y, "dtype", None) and
                np.array_equal(x, y))
    assert all(same(x, y) for x, y in zip(before, after))


def test_the_split_comes_just_before_tfma_s_unbatching():
    config = tfma.EvalConfig(model_specs=[tfma.ModelSpec(
        prediction_key="p", label_key="y")])
    names = [extractor.stage_name for extractor in
             extractors.custom_extractors(None, config, None)]
    defaults = [extractor.stage_name for extractor in
                tfma.default_extractors(eval_config=config)]
    position = names.index(extractors.SPLIT_STAGE_NAME)
    assert names[position + 1] == \
        unbatch_extractor.UNBATCH_EXTRACTOR_STAGE_NAME
    assert names[position - 1] == extractors.KEEP_STAGE_NAME
    assert names[:position - 1] + names[position + 1:] == defaults


@pytest.mark.parametrize("dataset, kept", [
    ("japanese_vowels", set()),  # accuracy reads labels and predictions
    ("co2", {"co2"}),  # the naive forecasts read the label's channel
])
def test_only_the_features_a_metric_reads_reach_the_unbatching(dataset,
                                                               kept):
    """With the pipeline's own Evaluator config: transformed features go
    (the labels were taken from them before), and of the raw features only
    those a metric names stay, the rest of the extract as it was."""
    config = pipeline.eval_config(PipelineConfig(dataset=dataset,
                                                 output="unused"))
    assert extractors.used_features(config) == kept
    batch = {
        "features": {"co2": var_len([3, 2]), "other": var_len([3, 2], 1)},
        "transformed_features": {"label_xf": np.array([1, 0])},
        "labels": np.array([1.0, 0.0]),
        "predictions": np.array([0.5, 0.25]),
        "input": np.array([b"x", b"y"], dtype=object),
    }
    trimmed = extractors._kept(batch, extractors.used_features(config))
    assert set(trimmed) == {"features", "labels", "predictions", "input"}
    assert set(trimmed["features"]) == kept
    for key in ("labels", "predictions", "input"):
        assert trimmed[key] is batch[key]
    assert set(batch["features"]) == {"co2", "other"}  # not changed


def test_a_sliced_feature_is_kept():
    config = tfma.EvalConfig(slicing_specs=[
        tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=["speaker"])])
    assert extractors.used_features(config) == {"speaker"}
