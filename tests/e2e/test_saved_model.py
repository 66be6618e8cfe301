"""A model built from every preset saves as a SavedModel that serves without
the project: same outputs, deterministic, no random op in the signature."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from clean_process import probe_saved_model

from noisy_rnn.layers import (NoisyGRU, NoisyLSTM,
                              TrainableInitialStateAndConstantNoiseGRU,
                              TrainableInitialStateAndConstantNoiseLSTM,
                              TrainableInitialStateGRU,
                              TrainableInitialStateLSTM)


def build_model():
    inputs = tf_keras.Input((None, 3))
    hidden = tf_keras.layers.Masking(0.0)(inputs)
    for layer in (NoisyGRU(8, return_sequences=True),
                  TrainableInitialStateAndConstantNoiseGRU(
                      8, return_sequences=True),
                  TrainableInitialStateGRU(8, return_sequences=True),
                  NoisyLSTM(8, return_sequences=True,
                            noise_on_cell_state=True),
                  TrainableInitialStateAndConstantNoiseLSTM(
                      8, return_sequences=True),
                  tf_keras.layers.Bidirectional(TrainableInitialStateLSTM(4))):
        hidden = layer(hidden)
    model = tf_keras.Model(inputs, tf_keras.layers.Dense(2)(hidden))
    for weight in model.weights:  # make the initial states matter
        if "initial_state" in weight.name:
            weight.assign(tf.random.normal(weight.shape))
    return model


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    tf_keras.utils.set_random_seed(0)
    model = build_model()
    x = np.random.default_rng(0).normal(size=(5, 7, 3)).astype(np.float32)

    @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.float32)])
    def serve(sequences):
        return {"outputs": model(sequences, training=False)}

    model_dir = tmp_path_factory.mktemp("model") / "1"
    # Without traces Keras rebuilds layers from their configs on reload.
    model.save(model_dir, signatures={"serving_default": serve},
               save_traces=False)
    return model, model_dir, x


def test_loads_in_a_process_without_the_project_with_identical_outputs(
        saved, tmp_path):
    model, model_dir, x = saved
    np.save(tmp_path / "in.npy", x)
    report, outputs = probe_saved_model(model_dir, tmp_path / "in.npy",
                                        tmp_path)
    assert report["project_importable"] is False
    assert report["random_ops"] == []
    np.testing.assert_array_equal(outputs, model(x, training=False))


def test_serving_signature_is_deterministic_and_training_is_not(saved):
    model, model_dir, x = saved
    serve = tf.saved_model.load(str(model_dir)).signatures["serving_default"]
    first = serve(tf.constant(x))["outputs"]
    np.testing.assert_array_equal(first, serve(tf.constant(x))["outputs"])
    assert not np.allclose(model(x, training=True), model(x, training=True))


def test_keras_reloads_the_presets_with_their_weights(saved):
    model, model_dir, x = saved
    reloaded = tf_keras.models.load_model(model_dir)
    assert [type(l).__name__ for l in reloaded.layers[2:7]] == [
        "NoisyGRU", "TrainableInitialStateAndConstantNoiseGRU",
        "TrainableInitialStateGRU", "NoisyLSTM",
        "TrainableInitialStateAndConstantNoiseLSTM"]
    np.testing.assert_array_equal(reloaded(x), model(x))
