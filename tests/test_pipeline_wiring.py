"""Pipeline wiring that needs no run: Beam arguments and the Evaluator's
metrics."""

import os

import numpy as np
import pytest
import tf_keras

from pipeline import metrics
from pipeline.config import PipelineConfig
from pipeline.pipeline import REPO_ROOT, beam_args, create_pipeline

SPEC = "schemas/japanese_vowels/dataset.yaml"


def _config(tmp_path, *args):
    config = PipelineConfig(dataset=SPEC, output=str(tmp_path))
    if args:
        config.beam_pipeline_args = list(args)
    return config


def test_beam_args_ship_this_repo_unless_told_how(tmp_path):
    setup_file = f"--setup_file={os.path.join(REPO_ROOT, 'setup.py')}"
    assert os.path.isfile(setup_file.split("=", 1)[1])
    default = beam_args(_config(tmp_path))
    assert default[-1] == setup_file
    assert "--direct_running_mode=in_memory" in default
    assert beam_args(_config(tmp_path), repo_root="/opt/repo")[-1] == \
        "--setup_file=/opt/repo/setup.py"
    for given in (["--setup_file=/elsewhere/setup.py"],
                  ["--extra_package", "/dist/x.tar.gz"],
                  ["--requirements_file=req.txt"],
                  ["--sdk_container_image=example.com/beam:1"]):
        assert beam_args(_config(tmp_path, *given)) == given


def test_pipeline_carries_the_beam_args(tmp_path):
    pipeline = create_pipeline(_config(tmp_path))
    assert pipeline.beam_pipeline_args == beam_args(_config(tmp_path))


@pytest.mark.parametrize("name", ["SparseCategoricalAccuracy",
                                  "MeanAbsoluteError", "RootMeanSquaredError"])
def test_evaluator_metrics_compute_what_the_stock_ones_do(name):
    ours, stock = getattr(metrics, name)(), getattr(tf_keras.metrics, name)()
    assert type(ours).__name__ == name and ours.name == stock.name
    rng = np.random.default_rng(0)
    if name == "SparseCategoricalAccuracy":
        labels = rng.integers(0, 4, size=(50, 1))
        predictions = rng.random((50, 4)).astype("float32")
    else:
        labels = rng.normal(size=(50, 1)).astype("float32")
        predictions = rng.normal(size=(50, 1)).astype("float32")
    for metric in (ours, stock):
        metric.update_state(labels[:20], predictions[:20])
        metric.update_state(labels[20:], predictions[20:])
    assert float(ours.result()) == pytest.approx(float(stock.result()),
                                                 abs=1e-7)
