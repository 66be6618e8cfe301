"""The project as a user installs it: a wheel, installed non-editable into a
fresh virtual environment from the lock, run from a folder outside the
repo."""

import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
from conftest import LOOSE_BUDGET_FLAGS

REPO = pathlib.Path(__file__).resolve().parents[2]
FOLDERS = ("layers", "pipeline", "components", "schemas")
SHORT_RUN = ["--units", "16", "--train-steps", "40", "--eval-every", "20",
             "--conv-filters", "8", "--ema-decay", "0.9"]


def _run(command, cwd, extra_env=None, **kwargs):
    """Runs ``command`` without the test process's Python path (with
    ``extra_env`` set); fails the test with its output if it fails."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(extra_env or {})
    done = subprocess.run([str(c) for c in command], cwd=cwd, env=env,
                          capture_output=True, text=True, check=False,
                          **kwargs)
    assert done.returncode == 0, (f"{command}:\n{done.stdout[-3000:]}\n"
                                  f"{done.stderr[-3000:]}")
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """``(venv, site-packages)`` of a fresh venv holding the lock and this
    project's wheel (not editable); removed afterwards (3.3 GB)."""
    work = tmp_path_factory.mktemp("wheel_install")
    dist = work / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps",
          "--no-build-isolation", "--disable-pip-version-check", "-q",
          "-w", dist, REPO], cwd=work)
    wheels = sorted(dist.glob("tfx_noisy_rnn-*.whl"))
    assert len(wheels) == 1
    venv = work / "venv"
    _run([sys.executable, "-m", "venv", venv], cwd=work)
    # uv from the lock, as `make venv` installs it: from its cache in
    # seconds (pip takes minutes to unpack the same 3 GB). Without
    # --compile-bytecode: compiling takes ~40 s, about what it would save
    # the few processes here that import TensorFlow (~8 s each).
    uv = [pathlib.Path(sys.executable).with_name("uv"), "pip", "install",
          "-q", "--python", venv / "bin" / "python", "--no-deps"]
    _run(uv + ["-r", REPO / "requirements.lock"], cwd=work)
    _run(uv + [wheels[0]], cwd=work)
    _run([venv / "bin" / "python", "-m", "pip", "--disable-pip-version-check",
          "check"], cwd=work)
    site = next((venv / "lib").glob("python3.10/site-packages"))
    yield venv, site
    shutil.rmtree(venv, ignore_errors=True)


def test_installed_tree_has_one_namespace_and_no_checkout_paths(installed):
    venv, site = installed
    assert (site / "noisy_rnn" / "layers" / "recurrent.py").is_file()
    assert (site / "noisy_rnn" / "schemas" / "co2" / "schema.pbtxt").is_file()
    assert (site / "noisy_rnn" / "data" / "japanese_vowels.csv").is_file()
    for folder in FOLDERS:
        assert not (site / folder).exists(), f"top-level {folder}/ installed"
    assert not list(site.glob("__editable__*"))
    assert not list((site / "noisy_rnn" / "data").glob("*.py"))
    where = _run([venv / "bin" / "python", "-c",
                  "import noisy_rnn.layers as l; print(l.__file__)"],
                 cwd=venv).stdout.strip()
    assert where == str(site / "noisy_rnn" / "layers" / "__init__.py")


def test_installed_keras3_layers_import_without_tensorflow(installed):
    """``noisy_rnn.keras3`` (and the argument checks it shares with the
    tf_keras layers) are installed under their own names, not inside
    ``noisy_rnn.layers``, whose import would bring TensorFlow."""
    venv, site = installed
    assert (site / "noisy_rnn" / "keras3" / "recurrent.py").is_file()
    assert (site / "noisy_rnn" / "layer_arguments" / "__init__.py").is_file()
    assert not (site / "noisy_rnn" / "layers" / "keras3").exists()
    loaded = _run([venv / "bin" / "python", "-c",
                   "import sys, noisy_rnn.keras3 as k; "
                   "print(k.NoisyGRU(4)(__import__('numpy').zeros("
                   "(2, 3, 1), 'float32')).shape, 'tensorflow' in "
                   "sys.modules)"], cwd=venv,
                  extra_env={"KERAS_BACKEND": "jax"}).stdout
    assert loaded.strip().splitlines()[-1] == "(2, 4) False"


def test_installed_cli_runs_a_bundled_dataset_from_anywhere(installed,
                                                            tmp_path):
    venv, site = installed
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = _run([venv / "bin" / "noisy-rnn", "run", "--dataset",
                 "japanese_vowels", "--output", "out"] + SHORT_RUN +
                LOOSE_BUDGET_FLAGS,
                cwd=elsewhere, timeout=900)
    assert f"{site}/noisy_rnn/schemas/japanese_vowels/dataset.yaml" in \
        done.stdout
    pushed = re.search(r"^pushed: (\S+)$", done.stdout, re.M)
    assert pushed, done.stdout[-2000:]
    version = pathlib.Path(pushed[1])
    assert version.parent == elsewhere / "out" / "serving" / "japanese_vowels"
    assert (version / "saved_model.pb").is_file()
    assert str(REPO) not in done.stdout + done.stderr


def test_installed_cli_names_the_bundled_datasets_for_an_unknown_one(
        installed, tmp_path):
    venv, _ = installed
    done = subprocess.run([str(venv / "bin" / "noisy-rnn"), "run",
                           "--dataset", "nosuch", "--output", "out"],
                          cwd=tmp_path, capture_output=True, text=True,
                          check=False)
    assert done.returncode != 0
    assert "dataset 'nosuch': no such spec file, and not a bundled dataset " \
           "(bundled: co2, japanese_vowels)" in done.stderr
    assert "Traceback" not in done.stderr
