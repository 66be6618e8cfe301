"""Models saved by version 0.1.0 before the code moved under ``noisy_rnn``
(``tests/fixtures/before_packaging/``) still load and serve:

- ``pushed_model/``: a JapaneseVowels model pushed by the pipeline (short
  config), with 16 of its eval examples and the outputs it gave then;
- ``keras_layers/``: a tf_keras model of every preset saved without traces
  (Keras rebuilds each layer from its registered ``noisy_rnn>`` name), with
  its inputs and outputs then.
"""

import glob
import pathlib

import numpy as np
import tensorflow as tf
import tf_keras
from clean_process import probe_saved_model
from serving_double import serve

from noisy_rnn import layers
from noisy_rnn.pipeline.serving import client
from noisy_rnn.schemas import contracts

FIXTURES = (pathlib.Path(__file__).resolve().parents[1] / "fixtures" /
            "before_packaging")
PUSHED = FIXTURES / "pushed_model"


def _pushed():
    """(version dir, serialized examples, outputs recorded then)."""
    version_dir = glob.glob(str(PUSHED / "japanese_vowels" / "*"))[0]
    records = [r.numpy() for r in tf.data.TFRecordDataset(
        [str(PUSHED / "examples.tfrecord.gz")], compression_type="GZIP")]
    return version_dir, records, dict(np.load(PUSHED / "outputs.npz", allow_pickle=True))


def test_old_pushed_model_serves_in_a_process_without_the_project(tmp_path):
    version_dir, _, then = _pushed()
    report, now = probe_saved_model(version_dir, PUSHED / "examples.tfrecord.gz",
                                    tmp_path, key=contracts.PROBABILITIES)
    assert report["project_importable"] is False
    assert report["random_ops"] == []
    np.testing.assert_allclose(now, then[contracts.PROBABILITIES], atol=1e-6)


def test_old_pushed_model_answers_todays_client_over_grpc_and_rest():
    version_dir, records, then = _pushed()
    inputs = {contracts.EXAMPLES_INPUT: np.array(records, dtype=object)}
    with serve(version_dir, "japanese_vowels") as running:
        for target in (running.grpc_target, running.http_target):
            outputs = client.predict(target, inputs,
                                     model_name="japanese_vowels",
                                     signature="examples")
            np.testing.assert_allclose(
                np.asarray(outputs[contracts.PROBABILITIES], np.float32),
                then[contracts.PROBABILITIES], atol=1e-5)
            assert list(np.asarray(outputs[contracts.CLASS_IDS])) == \
                list(then[contracts.CLASS_IDS])


def test_old_keras_model_of_every_preset_reloads_by_registered_name():
    saved = np.load(FIXTURES / "keras_layers" / "io.npz")
    model = tf_keras.models.load_model(FIXTURES / "keras_layers" / "model")
    by_class = {type(layer).__name__: layer for layer in model.layers}
    for name in ("NoisyGRU", "TrainableInitialStateAndConstantNoiseGRU",
                 "TrainableInitialStateGRU", "NoisyLSTM",
                 "TrainableInitialStateAndConstantNoiseLSTM"):
        assert isinstance(by_class[name], getattr(layers, name))
    np.testing.assert_array_equal(model(saved["inputs"], training=False),
                                  saved["outputs"])
