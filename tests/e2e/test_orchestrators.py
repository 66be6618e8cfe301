"""The same pipeline compiled for Kubeflow Pipelines v2 / Vertex JSON, no
cluster. (The Airflow DAG runs for real in test_airflow.py.)"""

import json
import pathlib
import subprocess
import sys

from noisy_rnn.pipeline.config import PACKAGE_IN_IMAGE

NOISY_RNN = pathlib.Path(sys.executable).with_name("noisy-rnn")


def test_kubeflow_v2_pipeline_json_has_every_component(tmp_path):
    run = subprocess.run(
        [str(NOISY_RNN), "compile-kubeflow", "--dataset",
         "co2", "--output", "gs://bucket/co2",
         "--spans-dir", "gs://bucket/incoming/co2", "--warm-start",
         "--image", "example.com/noisy-rnn:1", "--dest", str(tmp_path)],
        capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    job = json.loads((tmp_path / "co2_pipeline.json").read_text())
    spec = job["pipelineSpec"]
    assert spec["pipelineInfo"]["name"] == "co2"
    tasks = spec["root"]["dag"]["tasks"]
    # KFP splits each resolver into a model and a blessing query task.
    assert set(tasks) == {
        "SequenceExampleGen", "StatisticsGen", "ImportSchemaGen",
        "ExampleValidator", "AnomaliesGate", "Transform", "Trainer",
        "Evaluator", "ServingValidator", "Pusher"} | {
            f"{resolver}-{kind}-resolver"
            for resolver in ("latest_pushed_model", "latest_pushed_baseline")
            for kind in ("model", "model-blessing")}
    # Warm start and the gate are wired as locally.
    trainer_inputs = tasks["Trainer"]["inputs"]["artifacts"]
    assert trainer_inputs["base_model"]["taskOutputArtifact"][
        "producerTask"] == "latest_pushed_model-model-resolver"
    pusher_inputs = tasks["Pusher"]["inputs"]["artifacts"]
    assert pusher_inputs["infra_blessing"]["taskOutputArtifact"][
        "producerTask"] == "ServingValidator"
    executors = spec["deploymentSpec"]["executors"]
    containers = [e["container"] for e in executors.values()
                  if "container" in e]
    assert {c["image"] for c in containers} == {"example.com/noisy-rnn:1"}
    text = json.dumps(executors)
    assert "noisy_rnn.components.serving_validator.executor.Executor" in text
    assert "gs://bucket/incoming/co2" in json.dumps(job)
    # Bundled specs and schema are read from the image's installed package,
    # never from the compiling machine's files.
    assert str(pathlib.Path.cwd()) not in json.dumps(job)
    assert f"{PACKAGE_IN_IMAGE}/schemas/co2/schema.pbtxt" in json.dumps(job)
    # DirectRunner inside the image: the package is installed there, so no
    # Beam dependency flag (and no TFX sdist built per component).
    assert "--setup_file" not in text and "--extra_package" not in text


def test_kubeflow_v2_pipeline_json_tunes_before_training(tmp_path):
    run = subprocess.run(
        [str(NOISY_RNN), "compile-kubeflow", "--dataset", "co2", "--output",
         "gs://bucket/co2", "--tune", "--tune-trials", "4", "--noise",
         "additive", "--image", "example.com/noisy-rnn:1", "--dest",
         str(tmp_path)], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    spec = json.loads((tmp_path / "co2_pipeline.json").read_text())[
        "pipelineSpec"]
    tasks = spec["root"]["dag"]["tasks"]
    assert tasks["Trainer"]["inputs"]["artifacts"]["hyperparameters"][
        "taskOutputArtifact"]["producerTask"] == "Tuner"
    tuner_config = json.dumps(tasks["Tuner"]["inputs"])
    assert '\\"trials\\": 4' in tuner_config
    assert '\\"explicit\\": [\\"noise\\"]' in tuner_config
    assert "noisy_rnn.components.noise_tuner.executor.Executor" in \
        json.dumps(spec["deploymentSpec"]["executors"])
