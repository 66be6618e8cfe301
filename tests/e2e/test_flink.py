"""End to end on a real Flink cluster: the local one `noisy-rnn flink start`
brings up (Flink 1.19 JobManager and TaskManager, Beam's job server, a Python
worker pool), stopped again after these tests, also when they fail.

The JapaneseVowels pipeline (short config, with a small Tuner search, which
runs in-process) runs its Beam components there, the Evaluator kept on the
DirectRunner (the per-component override);
Flink's REST API must list one FINISHED job per component sent there, no
job may have staged jars (the cluster has Beam's on its classpath), and
the data and the Transform graph must equal the DirectRunner run's (the
session's ``japanese_vowels``). Then, with a new blessing threshold (only
the Evaluator and what follows rerun), a TaskManager killed during the
Evaluator's job on Flink fails the run with a message naming it; after a
restart, a rerun completes from the cache, the Evaluator on Flink.
"""

import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
from conftest import LOOSE_BUDGET_FLAGS, LOOSE_BUDGETS, SHORT
from tensorflow_metadata.proto.v0 import statistics_pb2

from noisy_rnn.pipeline.config import (ModelConfig, PipelineConfig,
                                       TuneConfig)
from noisy_rnn.pipeline.ops import flink_cluster, runner
from noisy_rnn.pipeline.pipeline import BEAM_COMPONENTS

NOISY_RNN = pathlib.Path(sys.executable).with_name("noisy-rnn")
SHORT_FLAGS = [flag for key, value in SHORT.items()
               for flag in (f"--{key.replace('_', '-')}", str(value))]

# Skipped without Java, except where NOISY_RNN_REQUIRE_FLINK is set (CI).
pytestmark = pytest.mark.skipif(
    not (os.environ.get("JAVA_HOME") or shutil.which("java") or
         os.environ.get("NOISY_RNN_REQUIRE_FLINK")),
    reason="no Java (JAVA_HOME, or java on PATH): Flink needs Java 11/17")


@pytest.fixture(autouse=True)
def plain_argv(monkeypatch):
    """TFX's Beam executors parse ``sys.argv`` (plus the Beam arguments)
    as absl flags whenever there are Beam arguments: pytest's ``-v`` would
    be read as absl's ``--verbosity``."""
    monkeypatch.setattr(sys, "argv", sys.argv[:1])


@pytest.fixture(scope="module")
def flink():
    """The local cluster's state; stopped at the end, whatever happened."""
    try:
        yield flink_cluster.start()
    finally:
        flink_cluster.stop()


def jobs(state, since_ms=0):
    """``[(job name, state)]`` of every job the cluster started from
    ``since_ms`` (epoch milliseconds) on, latest first."""
    overview = flink_cluster.rest_get(state["rest"], "/jobs/overview")
    return [(job["name"], job["state"]) for job in
            sorted(overview["jobs"], key=lambda j: -j["start-time"])
            if job["start-time"] >= since_ms]


def tasks_running(state, name):
    """Whether job ``name`` has a task running on a TaskManager (a job is
    RUNNING from submission, while its tasks still wait for slots)."""
    for job in flink_cluster.rest_get(state["rest"],
                                      "/jobs/overview")["jobs"]:
        if job["name"] == name and job["state"] == "RUNNING":
            detail = flink_cluster.rest_get(state["rest"],
                                            f"/jobs/{job['jid']}")
            return any(v["status"] == "RUNNING" for v in detail["vertices"])
    return False


# A small search: the Tuner (in-process whatever the runner) between the
# Transform that ran on Flink and the Trainer.
TUNE = TuneConfig(trials=2, steps=40, folds=2,
                  space={"noise": ["none", "additive"], "noise_std": [0.3],
                         "units": [32]})


def flink_config(output, **options):
    args, workers_local = flink_cluster.beam_args()
    return PipelineConfig(dataset="japanese_vowels", output=str(output),
                          model=ModelConfig(**SHORT), beam_pipeline_args=args,
                          latency_budgets_ms=LOOSE_BUDGETS, tune=TUNE,
                          workers_local=workers_local, **options)


def latest_artifact(config, component, key):
    [path] = sorted(pathlib.Path(config.pipeline_root, component,
                                 key).iterdir())[-1:]
    return str(path)


def statistics(config):
    """``{(split, feature): (count, mean, std)}`` from StatisticsGen."""
    result = {}
    folder = latest_artifact(config, "StatisticsGen", "statistics")
    for split in sorted(os.listdir(folder)):
        stats = statistics_pb2.DatasetFeatureStatisticsList()
        with open(os.path.join(folder, split, "FeatureStats.pb"), "rb") as f:
            stats.ParseFromString(f.read())
        for feature in stats.datasets[0].features:
            numeric = feature.num_stats
            result[split, feature.path.step[0]] = (
                numeric.common_stats.num_non_missing, numeric.mean,
                numeric.std_dev)
    return result


def transformed(config, examples):
    """The Transform graph applied to the same raw examples."""
    output = tft.TFTransformOutput(latest_artifact(config, "Transform",
                                                   "transform_graph"))
    spec = output.raw_feature_spec()
    features = tf.io.parse_example(examples, spec)
    return {key: np.asarray(tf.sparse.to_dense(value)
                            if isinstance(value, tf.SparseTensor) else value)
            for key, value in output.transform_raw_features(
                features).items()}


@pytest.fixture(scope="module")
def flink_run(flink, tmp_path_factory):
    """``(config, summary, {job: state})`` of the pipeline run on the
    cluster with the Evaluator kept on the DirectRunner (the jobs it
    started: a cluster already up may have run others)."""
    config = flink_config(tmp_path_factory.mktemp("flink") / "run",
                          direct_components=["Evaluator"])
    since_ms = int(time.time() * 1000)
    summary = runner.run(config)
    return config, summary, dict(jobs(flink, since_ms))


def test_beam_components_run_on_flink_as_on_the_direct_runner(
        flink, flink_run, japanese_vowels):
    direct_config, direct = japanese_vowels
    config, summary, ran = flink_run

    on_flink = [c for c in BEAM_COMPONENTS if c != "Evaluator"]
    for component in on_flink:
        assert ran.get(f"japanese_vowels-{component}") == "FINISHED"
    assert len(ran) == len(on_flink)  # nothing else went there
    # No job staged the job server's jars (flink/StageNothing.java): the
    # cluster holds no per-job copy of them (blob_p-*: a job's files).
    assert flink["stage_nothing"]
    tmp = pathlib.Path(flink_cluster.cache_dir(), "cluster", "tmp")
    assert not list(tmp.rglob("blob_p-*"))
    assert summary.states["Evaluator"] == "complete"
    assert summary.states["Tuner"] == "complete"
    assert len(summary.tuning["trials"]) == 2
    assert summary.blessed is True
    assert summary.pushed_path and os.path.isfile(
        os.path.join(summary.pushed_path, "saved_model.pb"))

    assert summary.example_counts == direct.example_counts
    assert summary.example_counts["examples_eval"] == 370
    flink_stats, direct_stats = statistics(config), statistics(direct_config)
    assert flink_stats.keys() == direct_stats.keys()
    for key, (count, mean, std) in direct_stats.items():
        assert flink_stats[key][0] == count
        np.testing.assert_allclose(flink_stats[key][1:], (mean, std),
                                   rtol=1e-6, err_msg=str(key))
    eval_file = next(pathlib.Path(latest_artifact(
        config, "SequenceExampleGen", "examples"), "Split-eval").iterdir())
    examples = [r.numpy() for r in tf.data.TFRecordDataset(
        [str(eval_file)], compression_type="GZIP").take(32)]
    on_flink, on_direct = (transformed(c, examples)
                           for c in (config, direct_config))
    assert on_flink.keys() == on_direct.keys()
    for key in on_direct:
        np.testing.assert_allclose(on_flink[key], on_direct[key], rtol=1e-5,
                                   atol=1e-6, err_msg=key)


def test_a_lost_taskmanager_fails_the_run_naming_the_component_then_a_rerun_resumes(  # noqa: E501
        flink, flink_run):
    config, first, _ = flink_run
    # A new blessing threshold: the Evaluator and what follows run again.
    min_accuracy = 0.55
    threshold = ["--min-accuracy", str(min_accuracy)]
    command = [str(NOISY_RNN), "run", "--dataset", "japanese_vowels",
               "--output", config.output, "--runner", "flink", *SHORT_FLAGS,
               *LOOSE_BUDGET_FLAGS, *threshold]
    process = subprocess.Popen(command, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    job = "japanese_vowels-Evaluator"
    deadline = time.time() + 600
    while not tasks_running(flink, job):
        assert process.poll() is None, process.communicate()
        assert time.time() < deadline, "the Evaluator never ran on Flink"
        time.sleep(0.2)
    os.kill(flink_cluster.flink_pids()["taskmanager"], signal.SIGKILL)
    _, stderr = process.communicate(timeout=300)

    assert process.returncode == 1
    [line] = stderr.strip().splitlines()[-1:]
    assert line.startswith("error: pipeline failed in Evaluator"), stderr
    versions = os.listdir(config.serving_dir)
    assert versions == [os.path.basename(first.pushed_path)]  # nothing new

    state = flink_cluster.start()  # restarts what is down
    since_ms = int(time.time() * 1000)
    summary = runner.run(flink_config(config.output, min_accuracy=min_accuracy))
    for component in ("SequenceExampleGen", "StatisticsGen", "Transform",
                      "Tuner", "Trainer"):
        assert summary.states[component] == "cached", component
    assert summary.states["Evaluator"] == "complete"
    assert jobs(state, since_ms) == [(job, "FINISHED")]  # the rerun's only
    assert summary.blessed is True and summary.pushed_path
