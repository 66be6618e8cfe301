"""The Trainer's model pieces beyond `layers/`: the convolutional branch,
the weight average, the losses, and their options."""

import re

import numpy as np
import pytest
import tensorflow as tf

from repo_files import padded_batch

from noisy_rnn.pipeline.config import ModelConfig
from noisy_rnn.pipeline.trainer.architecture import (MaskedConvFeatures,
                                                     build_model)
from noisy_rnn.pipeline.trainer.training import loss_and_metric
from noisy_rnn.pipeline.trainer.weight_average import WeightAverage


def test_conv_features_ignore_padding_and_padded_values():
    layer = MaskedConvFeatures(6)
    values, mask = padded_batch([7, 4, 1], time=7)
    features = layer(values, mask).numpy()
    # Padded further, and with garbage where steps do not exist: the same.
    longer, longer_mask = padded_batch([7, 4, 1], time=12)
    longer[~longer_mask] = 99.0
    assert np.allclose(layer(longer, longer_mask).numpy(), features,
                       atol=1e-6)
    # Each row alone: the same as in the batch.
    for row, length in enumerate([7, 4, 1]):
        alone = layer(values[row:row + 1, :length],
                      mask[row:row + 1, :length]).numpy()
        assert np.allclose(alone, features[row:row + 1], atol=1e-6)
    assert features.shape == (3, 6) and (features >= 0).all()


def test_conv_branch_joins_the_recurrent_output_before_the_head():
    model = build_model(ModelConfig(units=5, conv_filters=4), 3, 9)
    assert model.get_layer("conv").filters == 4
    assert model.get_layer("head").kernel.shape == (5 + 4, 9)
    values, mask = padded_batch([6, 3], time=6)
    assert model({"values": values, "mask": mask}).shape == (2, 9)
    assert not [layer for layer in build_model(
        ModelConfig(units=5, conv_filters=0), 3, 9).layers
        if isinstance(layer, MaskedConvFeatures)]


def test_weight_average_is_bias_corrected_and_swaps_back():
    model = build_model(ModelConfig(units=2, noise="none"), 3, 2)
    average = WeightAverage(model, decay=0.5)
    start = [w.numpy() for w in model.weights]
    assert all(np.array_equal(a, s) for a, s in zip(average.weights(), start))
    for shift in (1.0, 2.0):
        for weight, first in zip(model.weights, start):
            weight.assign(first + shift)
        average.update()
    # (0.25 w1 + 0.5 w2) / (1 - 0.5**2): the starting weights play no part.
    expected = [s + 5.0 / 3.0 for s in start]
    assert all(np.allclose(a, e, atol=1e-6)
               for a, e in zip(average.weights(), expected))
    live = model.get_weights()
    with average.swapped_in():
        assert all(np.allclose(w, e, atol=1e-6)
                   for w, e in zip(model.get_weights(), expected))
    assert all(np.array_equal(w, l)
               for w, l in zip(model.get_weights(), live))
    assert WeightAverage(model, decay=0.0).averages == []


def test_label_smoothing_changes_the_training_loss_not_the_eval_loss():
    labels = tf.constant([0, 2, 1])
    logits = tf.constant([[4.0, 0.0, 0.0], [0.0, 1.0, 3.0],
                          [0.0, 2.0, 0.0]])
    plain_train, plain_eval, _ = loss_and_metric(3)
    smooth_train, smooth_eval, _ = loss_and_metric(3, label_smoothing=0.1)
    assert float(smooth_eval(labels, logits)) == pytest.approx(
        float(plain_eval(labels, logits)))
    assert float(plain_train(labels, logits)) == pytest.approx(
        float(plain_eval(labels, logits)))
    # Confident, correct logits cost more with smoothed targets.
    assert float(smooth_train(labels, logits)) > float(
        plain_train(labels, logits))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_eval_metrics_give_what_the_keras_metrics_give(seed):
    """The eval rounds' numpy metrics against tf_keras' own on the same
    outputs: accuracy bit for bit (ties in the logits included: the first
    maximum wins in both), MAE to float32 rounding."""
    import tf_keras  # pylint: disable=import-outside-toplevel
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(45, 9)).astype(np.float32)
    logits[:5] = 1.0  # ties
    labels = rng.integers(0, 9, 45)
    accuracy = loss_and_metric(9)[2]
    keras_accuracy = tf_keras.metrics.SparseCategoricalAccuracy()
    keras_accuracy.update_state(labels, logits)
    assert accuracy.name == "accuracy"
    assert accuracy(labels, logits) == float(keras_accuracy.result())
    outputs = rng.normal(size=(61, 1)).astype(np.float32)
    targets = rng.normal(size=61).astype(np.float32)
    mae = loss_and_metric(1)[2]
    keras_mae = tf_keras.metrics.MeanAbsoluteError()
    keras_mae.update_state(targets, outputs[:, 0])
    assert mae.name == "mae"
    assert mae(targets, outputs) == pytest.approx(
        float(keras_mae.result()), rel=1e-6)


@pytest.mark.parametrize("option, value, message", [
    ("conv_filters", -1, "--conv-filters: must be >= 0"),
    ("label_smoothing", 1.0, "--label-smoothing: must be in [0, 1)"),
    ("ema_decay", -0.1, "--ema-decay: must be in [0, 1)"),
    ("early_stopping_patience", -1,
     "--early-stopping-patience: must be >= 0 (0: off)"),
])
def test_model_options_are_checked_by_name(option, value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ModelConfig(**{option: value}).validate()
