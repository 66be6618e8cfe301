"""The ``noisy-rnn`` console script and the JapaneseVowels demo."""

import pathlib
import re
import subprocess
import sys

import numpy as np

from noisy_rnn.pipeline import __version__
from noisy_rnn.pipeline.ops import demo

# The console script installed next to this interpreter (the repo's venv).



# The console script installed next to this interpreter (the repo's venv).
NOISY_RNN = pathlib.Path(sys.executable).with_name("noisy-rnn")


def run_cli(*args):
    return subprocess.run([str(NOISY_RNN), *args], capture_output=True,
                          text=True, check=True).stdout


def test_help_lists_the_subcommands():
    out = run_cli("--help")
    assert "version" in out and "demo" in out


def test_version_names_the_project_and_the_pinned_stack():
    out = run_cli("version")
    assert f"tfx-noisy-rnn {__version__}" in out
    assert "tfx 1.16.0" in out and "tensorflow 2.16.2" in out


def test_run_reports_a_bad_dataset_spec_by_file_line_and_key(tmp_path):
    spec = tmp_path / "dataset.yaml"
    spec.write_text("name: x\ncsv: x.csv\nmode: frames\nsequence_id: id\n"
                    "step: t\nfeatures: [a]\nlabel: y\ntask: regression\n"
                    "split: {eval_fraction: 0.2}\n")
    run = subprocess.run([str(NOISY_RNN), "run", "--dataset", str(spec),
                          "--output", str(tmp_path / "out")],
                         capture_output=True, text=True, check=False)
    assert run.returncode != 0
    assert f"error: {spec}: line 3: key 'mode': must be one of" in run.stderr


def test_demo_data_is_z_scored_and_padded_from_the_csv():
    data = demo.load_japanese_vowels("data/japanese_vowels.csv")
    (x_train, y_train), (x_eval, y_eval) = data["train"], data["eval"]
    assert x_train.shape == (270, 29, 12) and x_eval.shape == (370, 29, 12)
    assert sorted(set(y_train)) == list(range(9))
    steps = x_train[np.any(x_train != 0, axis=-1)]
    np.testing.assert_allclose(steps.mean(0), 0.0, atol=1e-4)
    np.testing.assert_allclose(steps.std(0), 1.0, atol=1e-3)


def test_demo_trains_and_prints_test_accuracy_side_by_side():
    out = run_cli("demo", "--seeds", "0", "--epochs", "3", "--variants",
                  "stock GRU", "NoisyGRU(noise_std_init=0.3)")
    rows = {line.split("  ")[0]: line for line in out.splitlines()
            if line.startswith(("stock GRU", "NoisyGRU"))}
    assert set(rows) == {"stock GRU", "NoisyGRU(noise_std_init=0.3)"}
    for row in rows.values():
        accuracy = float(re.search(r"\s(0\.\d{3}|1\.000)\s", row).group(1))
        assert 1 / 9 < accuracy <= 1.0  # better than chance after 3 epochs


def test_deploy_config_writes_tf_serving_files_for_the_pushed_model(
        japanese_vowels, tmp_path):
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2
    config, summary = japanese_vowels
    out = run_cli("deploy-config", "--output", config.output,
                  "--dest", str(tmp_path), "--num-versions", "2")
    version = pathlib.Path(summary.pushed_path).name
    assert f"model japanese_vowels: pushed versions {version}" in out
    parsed = text_format.Parse(
        (tmp_path / "models.config").read_text(),
        model_server_config_pb2.ModelServerConfig())
    [model] = parsed.model_config_list.config
    assert model.name == "japanese_vowels"
    assert model.base_path == config.serving_dir
    assert model.model_version_policy.latest.num_versions == 2
    for name in ("docker-run.sh", "kubernetes.yaml", "models.docker.config"):
        assert (tmp_path / name).is_file()


def test_deploy_config_says_when_nothing_was_pushed(tmp_path):
    run = subprocess.run([str(NOISY_RNN), "deploy-config", "--output",
                          str(tmp_path)], capture_output=True, text=True,
                         check=False)
    assert run.returncode == 1
    assert f"nothing pushed under {tmp_path}/serving" in run.stderr


def test_predict_prints_one_line_per_sequence_from_the_pushed_model(
        japanese_vowels, tmp_path):
    config, summary = japanese_vowels
    with open("data/japanese_vowels.csv") as f:
        lines = f.read().splitlines()
    # Header + the first two sequences, without the speaker/split columns.
    rows = [",".join(line.split(",")[:14]) for line in lines
            if line.split(",")[0] in ("sequence_id", "train-000",
                                      "train-001")]
    (tmp_path / "new.csv").write_text("\n".join(rows) + "\n")
    out = run_cli("predict", "--dataset", str(config.dataset), "--csv",
                  str(tmp_path / "new.csv"), "--target", config.serving_dir)
    header, *predictions = out.strip().splitlines()
    assert header == "sequence_id,class,probability"
    assert [p.split(",")[0] for p in predictions] == ["train-000",
                                                      "train-001"]
    for line in predictions:
        _, speaker, probability = line.split(",")
        assert speaker in {str(i) for i in range(1, 10)}
        assert 0 < float(probability) <= 1
