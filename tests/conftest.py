"""Test setup: the tf_keras (Keras 2) stack, quiet TensorFlow logs, the
``e2e`` marker on everything under ``tests/e2e/``, the test helpers
importable, and one short JapaneseVowels pipeline run shared by the tests
that need a real pushed model.

``tests/unit/``: in process, small inputs, a few steps at most (``make
test-unit``, under a minute). ``tests/e2e/``: what takes longer or crosses a
process boundary: real pipeline runs and installs, SavedModels served in a
clean process or over sockets, Beam jobs (tf.Transform), the CLI in a new
process, and training runs of hundreds of steps."""

import fcntl
import os
import pathlib
import pickle
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from noisy_rnn.schemas import contracts  # noqa: E402

TESTS = pathlib.Path(__file__).resolve().parent
# Helpers (clean_process, serving_double, ...) and Trainer modules used by
# tests (noisy_export) live here, beside the unit/ and e2e/ folders.
sys.path.insert(0, str(TESTS))

# A short model config: enough for > 0.8 accuracy, a fraction of the time;
# with noise on the carried state (off by default), the conv branch, label
# smoothing and the weight average, so every end-to-end run (export,
# serving checks, clients) goes through them.
SHORT = dict(units=32, train_steps=60, eval_every=30, conv_filters=8,
             label_smoothing=0.1, ema_decay=0.9, noise="additive",
             noise_std=0.3)


# Latency budgets 10x the ServingValidator's defaults for runs whose tests
# are about something else: on two cores shared by two test workers (and a
# Flink cluster) a model is measured up to 3x slower than alone. The budgets
# themselves are tested in test_serving_validator.py.
LOOSE_BUDGETS = {name: 10 * ms for name, ms in
                 contracts.DEFAULT_LATENCY_BUDGETS_MS.items()}
LOOSE_BUDGET_FLAGS = [flag for name, ms in LOOSE_BUDGETS.items()
                      for flag in ("--latency-budget", f"{name}={ms:g}")]


@pytest.fixture(scope="session")
def japanese_vowels(tmp_path_factory):
    """``(PipelineConfig, RunSummary)`` of the real pipeline on
    JapaneseVowels (short config), run once per test session: with
    pytest-xdist, by the first worker that asks, under a file lock, in a
    folder the workers share; the others read its pickled summary."""
    from noisy_rnn.pipeline.config import ModelConfig, PipelineConfig  # pylint: disable=import-outside-toplevel
    from noisy_rnn.pipeline.ops import runner  # pylint: disable=import-outside-toplevel
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # gw0, gw1, ...: one parent
        shared = shared.parent
    config = PipelineConfig(dataset="japanese_vowels",
                            output=str(shared / "japanese_vowels"),
                            model=ModelConfig(**SHORT),
                            latency_budgets_ms=LOOSE_BUDGETS)
    summary_file = shared / "japanese_vowels.pickle"
    with open(shared / "japanese_vowels.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when closed
        if summary_file.exists():
            return config, pickle.loads(summary_file.read_bytes())
        summary = runner.run(config)
        summary_file.write_bytes(pickle.dumps(summary))
    return config, summary


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items):
    """Marks ``tests/e2e/`` items ``e2e``, and groups them for pytest-xdist
    (``make test`` runs ``--dist loadgroup``): a module's tests stay on one
    worker (they share its fixtures), and the modules that use the session's
    ``japanese_vowels`` run share one (some of them rerun into it or serve
    it; a module may name another group with ``xdist_group``, the run is
    then shared through a file lock). Unit tests are spread one by one.
    (Measured: the Flink tests on a worker of their own made the suite
    slower, 902 s against 711 s, two cores being shared by more at once.)"""
    shared = {item.path for item in items
              if "japanese_vowels" in getattr(item, "fixturenames", ())}
    for item in items:
        if (TESTS / "e2e") not in pathlib.Path(item.path).parents:
            continue
        item.add_marker(pytest.mark.e2e)
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(
                "japanese_vowels" if item.path in shared
                else pathlib.Path(item.path).stem))
