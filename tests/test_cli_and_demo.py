"""The ``noisy-rnn`` console script and the JapaneseVowels demo."""

import pathlib
import re
import subprocess
import sys

import numpy as np

from pipeline import __version__, demo


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
