"""TF Serving deployment files: parsed with the real protos and PyYAML."""

import os
import re
import shlex

import pytest
import yaml
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from noisy_rnn.pipeline.serving import deploy

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
EXAMPLE_DIR = os.path.join(REPO, "deploy", "japanese_vowels")
DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def parse_config(text):
    return text_format.Parse(text, model_server_config_pb2.ModelServerConfig())


def only_model(config):
    (model,) = config.model_config_list.config
    return model


def test_models_config_parses_as_model_server_config():
    model = only_model(parse_config(deploy.render_models_config(
        "japanese_vowels", "/srv/runs/jv/serving/japanese_vowels",
        num_versions=3)))
    assert model.name == "japanese_vowels"
    assert model.base_path == "/srv/runs/jv/serving/japanese_vowels"
    assert model.model_platform == "tensorflow"
    assert model.model_version_policy.WhichOneof("policy_choice") == "latest"
    assert model.model_version_policy.latest.num_versions == 3


def test_models_config_escapes_quotes_in_paths():
    path = '/tmp/a "quoted" \\ dir'
    model = only_model(parse_config(
        deploy.render_models_config("m", path)))
    assert model.base_path == path


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_num_versions_below_one_is_rejected(bad):
    with pytest.raises(ValueError, match="num_versions"):
        deploy.render_models_config("japanese_vowels", "/x", num_versions=bad)


def test_write_deploy_files_rejects_num_versions_zero(tmp_path):
    serving = tmp_path / "serving" / "m"
    (serving / "1").mkdir(parents=True)
    (serving / "1" / "saved_model.pb").write_bytes(b"")
    with pytest.raises(ValueError, match="num_versions"):
        deploy.write_deploy_files(str(serving), "m", str(tmp_path / "out"),
                                  num_versions=0)
    assert not (tmp_path / "out").exists()


def load_manifest(text):
    return {doc["kind"]: doc for doc in yaml.safe_load_all(text)}


def test_kubernetes_manifest():
    docs = load_manifest(deploy.render_kubernetes_manifest(
        "japanese_vowels", replicas=2, num_versions=2))
    assert set(docs) == {"ConfigMap", "Deployment", "Service"}
    for doc in docs.values():
        assert DNS_LABEL.match(doc["metadata"]["name"])
    assert docs["Deployment"]["metadata"]["name"] == "japanese-vowels"
    assert docs["Service"]["metadata"]["name"] == "japanese-vowels"

    config_map = docs["ConfigMap"]
    model = only_model(parse_config(config_map["data"]["models.config"]))
    assert model.name == "japanese_vowels"  # TF Serving name keeps its "_"
    assert model.base_path == "/models/japanese_vowels"
    assert model.model_version_policy.latest.num_versions == 2

    spec = docs["Deployment"]["spec"]
    assert spec["replicas"] == 2
    pod = spec["template"]["spec"]
    assert spec["selector"]["matchLabels"] == spec["template"]["metadata"][
        "labels"] == docs["Service"]["spec"]["selector"]
    (container,) = pod["containers"]
    assert container["image"] == "tensorflow/serving:2.16.1"
    assert container["args"] == ["--model_config_file=/config/models.config",
                                 "--port=8500", "--rest_api_port=8501"]
    assert {p["containerPort"] for p in container["ports"]} == {8500, 8501}
    probe = container["readinessProbe"]["httpGet"]
    assert probe == {"path": "/v1/models/japanese_vowels", "port": 8501}

    mounts = {m["name"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert mounts["models"]["mountPath"] == "/models/japanese_vowels"
    assert mounts["models"]["readOnly"] is True
    assert volumes["models"]["persistentVolumeClaim"] == {
        "claimName": "japanese-vowels-models", "readOnly": True}
    assert mounts["config"]["mountPath"] == "/config"
    assert volumes["config"]["configMap"]["name"] == config_map[
        "metadata"]["name"]

    ports = docs["Service"]["spec"]["ports"]
    assert {p["port"] for p in ports} == {8500, 8501}


def test_kubernetes_manifest_custom_claim_and_image():
    docs = load_manifest(deploy.render_kubernetes_manifest(
        "m", image="registry.local/tf-serving:1", model_volume_claim="pvc"))
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "registry.local/tf-serving:1"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["models"]["persistentVolumeClaim"]["claimName"] == "pvc"


@pytest.mark.parametrize("model_name", ["9lives", "_x", "a/b", ""])
def test_kubernetes_name_rejects_non_dns_names(model_name):
    with pytest.raises(ValueError):
        deploy.kubernetes_name(model_name)


def test_docker_command():
    command = deploy.render_docker_command(
        "japanese_vowels", "/srv/runs/jv/serving/japanese_vowels",
        config_file="/srv/deploy/models.docker.config")
    words = shlex.split(command.replace("\\\n", " "))
    assert words[:2] == ["docker", "run"]
    assert "tensorflow/serving:2.16.1" in words
    assert words[words.index("-p") + 1] == "8500:8500"
    assert "8501:8501" in words
    mounts = [words[i + 1] for i, w in enumerate(words) if w == "--mount"]
    assert ("type=bind,source=/srv/runs/jv/serving/japanese_vowels,"
            "target=/models/japanese_vowels,readonly") in mounts
    assert ("type=bind,source=/srv/deploy/models.docker.config,"
            "target=/models/models.config,readonly") in mounts
    server_args = words[words.index("tensorflow/serving:2.16.1") + 1:]
    assert server_args == ["--model_config_file=/models/models.config",
                           "--port=8500", "--rest_api_port=8501"]


def test_docker_command_host_ports():
    command = deploy.render_docker_command("m", "/s", rest_port=9501,
                                           grpc_port=9500)
    assert "-p 9500:8500" in command and "-p 9501:8501" in command


def make_serving_dir(tmp_path, versions=("123",)):
    serving = tmp_path / "runs" / "serving" / "japanese_vowels"
    serving.mkdir(parents=True)
    for version in versions:
        (serving / version).mkdir()
        (serving / version / "saved_model.pb").write_bytes(b"")
    return serving


def test_write_deploy_files(tmp_path):
    serving = make_serving_dir(tmp_path, ("123", "45"))
    (serving / "not_a_version").mkdir()
    (serving / "999").mkdir()  # a version folder without a SavedModel
    dest = tmp_path / "deploy"
    paths = deploy.write_deploy_files(str(serving), "japanese_vowels",
                                      str(dest), num_versions=2)

    assert paths.pop("versions") == "45,123"
    assert set(paths) == {"models.config", "models.docker.config",
                          "docker-run.sh", "kubernetes.yaml"}
    for name, path in paths.items():
        assert path == str(dest / name) and os.path.isfile(path)

    model = only_model(parse_config((dest / "models.config").read_text()))
    assert model.base_path == str(serving)
    assert model.model_version_policy.latest.num_versions == 2
    docker_model = only_model(parse_config(
        (dest / "models.docker.config").read_text()))
    assert docker_model.base_path == "/models/japanese_vowels"

    script = dest / "docker-run.sh"
    assert os.access(script, os.X_OK)
    text = script.read_text()
    assert text.startswith("#!/bin/sh\n") and "\nset -e\n" in text
    assert "tf_serving_warmup_requests" in text
    assert f"source={dest / 'models.docker.config'}," in text
    assert f"source={serving}," in text
    load_manifest((dest / "kubernetes.yaml").read_text())


def test_write_deploy_files_without_pushed_model(tmp_path):
    serving = tmp_path / "serving" / "japanese_vowels"
    serving.mkdir(parents=True)
    (serving / "1").mkdir()  # no saved_model.pb yet
    with pytest.raises(FileNotFoundError, match="nothing pushed yet") as err:
        deploy.write_deploy_files(str(serving), "japanese_vowels",
                                  str(tmp_path / "out"))
    assert str(serving) in str(err.value)
    assert "noisy-rnn run" in str(err.value)
    assert not (tmp_path / "out").exists()


def test_write_deploy_files_missing_serving_dir(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        deploy.write_deploy_files(str(missing), "m", str(tmp_path / "out"))


def test_committed_example_matches_renderer():
    expected = deploy.render_deploy_files(
        "runs/jv/serving/japanese_vowels", "japanese_vowels",
        "deploy/japanese_vowels")
    assert sorted(os.listdir(EXAMPLE_DIR)) == sorted(expected)
    for name, text in expected.items():
        with open(os.path.join(EXAMPLE_DIR, name), encoding="utf-8") as f:
            assert f.read() == text, f"deploy/japanese_vowels/{name} drifted"
    assert os.access(os.path.join(EXAMPLE_DIR, "docker-run.sh"), os.X_OK)


def test_no_tensorflow_import():
    # Rendering must stay cheap: the module imports no TensorFlow.
    import subprocess
    import sys
    code = ("import sys, noisy_rnn.pipeline.serving.deploy; "
            "sys.exit('tensorflow' in sys.modules)")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
