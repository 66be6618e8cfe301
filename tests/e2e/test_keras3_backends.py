"""The Keras 3 layers across backends and processes: the unit checks rerun
on the JAX backend, the same saved model giving the same outputs on JAX as
on TensorFlow, and a TensorFlow-backend export that TensorFlow alone loads,
without any random op."""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from clean_process import probe_saved_model

keras = pytest.importorskip("keras")
pytest.importorskip("jax")

REPO = pathlib.Path(__file__).parents[2]
UNIT_TESTS = REPO / "tests" / "unit" / "test_keras3_layers.py"

# Loads a .keras file on the JAX backend and saves its outputs on the inputs.
_PREDICT_ON_JAX = """
import sys
import numpy as np
import keras
import noisy_rnn.keras3  # registers the layers
assert keras.backend.backend() == "jax"
assert "tensorflow" not in sys.modules, "the JAX run imported TensorFlow"
model = keras.models.load_model(sys.argv[1])
np.save(sys.argv[3], keras.ops.convert_to_numpy(model(np.load(sys.argv[2]))))
"""


def on_backend(backend, command, cwd=None):
    """Runs ``command`` (argv) with ``KERAS_BACKEND=backend``; returns it."""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(command, env=env, capture_output=True, text=True,
                          check=False, cwd=cwd)


def test_the_unit_checks_pass_on_the_jax_backend(tmp_path):
    run = on_backend("jax", [sys.executable, "-m", "pytest", "-q",
                             "-p", "no:cacheprovider", str(UNIT_TESTS),
                             "--basetemp", str(tmp_path / "pytest")])
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "skipped" not in run.stdout


def every_preset_model():
    """One model holding every preset, noise on (it must not matter at
    inference), with random trained initial states."""
    from noisy_rnn import keras3  # pylint: disable=import-outside-toplevel
    inputs = keras.Input((None, 3))
    branches = []
    presets = [name for name in keras3.__all__
               if not name.startswith(("NoisyState", "StdPrior"))]
    assert len(presets) == 6
    for index, name in enumerate(presets):
        layer = getattr(keras3, name)(6, seed=index)
        branches.append(layer(keras.layers.Masking(0.0)(inputs)))
    model = keras.Model(inputs, keras.layers.Dense(2)(
        keras.layers.Concatenate()(branches)))
    rng = np.random.default_rng(0)
    for layer in model.layers:
        for vector in getattr(layer, "initial_state_vectors", []):
            vector.assign(rng.normal(size=vector.shape).astype("float32"))
    return model


def test_the_same_model_gives_the_same_outputs_on_jax(tmp_path):
    assert keras.backend.backend() == "tensorflow"
    model = every_preset_model()
    x = np.random.default_rng(1).normal(size=(5, 9, 3)).astype("float32")
    x[:2, 6:] = 0.0  # two padded sequences
    model.save(tmp_path / "model.keras")
    np.save(tmp_path / "x.npy", x)
    run = on_backend("jax", [sys.executable, "-c", _PREDICT_ON_JAX,
                             str(tmp_path / "model.keras"),
                             str(tmp_path / "x.npy"),
                             str(tmp_path / "jax.npy")])
    assert run.returncode == 0, run.stderr[-3000:]
    np.testing.assert_allclose(np.load(tmp_path / "jax.npy"),
                               keras.ops.convert_to_numpy(model(x)),
                               atol=1e-5)


def test_an_export_loads_in_tensorflow_alone_without_random_ops(tmp_path):
    model = every_preset_model()
    x = np.random.default_rng(2).normal(size=(5, 9, 3)).astype("float32")
    model.export(str(tmp_path / "export"), verbose=False)
    np.save(tmp_path / "x.npy", x)
    report, outputs = probe_saved_model(tmp_path / "export",
                                        tmp_path / "x.npy", tmp_path)
    assert not report["project_importable"]
    assert report["random_ops"] == []
    np.testing.assert_allclose(outputs, keras.ops.convert_to_numpy(model(x)),
                               atol=1e-6)


def readme_keras3_example():
    """The Python block of the README's "Keras 3" section."""
    section = (REPO / "README.md").read_text().split("## Keras 3", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_the_readme_example_runs_on_both_backends(backend, tmp_path):
    script = tmp_path / "example.py"
    script.write_text(readme_keras3_example())
    run = on_backend(backend, [sys.executable, str(script)], cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (tmp_path / "noisy.keras").is_file()
