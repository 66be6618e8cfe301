"""Long sequences through the real pipeline: the Trainer chooses the
front-end's downsampling factor and the MiniRocket path's dilations from
the training lengths and the step count from their number (and records
why), short sequences get no
downsampling, explicit options are not overridden, and the exported model
still serves noise-free and deterministically."""

import csv
import json
import os
import pathlib
import re

from conftest import LOOSE_BUDGETS, SHORT
from repo_files import load_script

from noisy_rnn.pipeline.config import ModelConfig, PipelineConfig
from noisy_rnn.pipeline.ops import runner
from noisy_rnn.pipeline.trainer import data_defaults, rocket
from noisy_rnn.schemas import contracts

REPO = pathlib.Path(__file__).resolve().parents[2]


def data_choices(config):
    """The Trainer's recorded choices of the latest run."""
    root = os.path.join(config.pipeline_root, "Trainer", "model_run")
    latest = max(os.listdir(root), key=int)
    with open(os.path.join(root, latest, contracts.DATA_CHOICES_FILE),
              encoding="utf-8") as f:
        return json.load(f)


def test_short_sequences_get_no_downsampling(japanese_vowels):
    config, _ = japanese_vowels
    choices = data_choices(config)
    choice = choices["downsample"]
    assert choice["value"] == 1
    assert re.match(r"225 training examples of 7-\d\d steps", choice["reason"])
    # The short config's explicit step count is not the data's to choose.
    assert "train_steps" not in choices
    # The MiniRocket path: dilations for the longest of the 270 training
    # and validation sequences (26 steps: (26 - 1) / 8 -> up to 3).
    path = choices["rocket_features"]
    assert path["value"].startswith("9996 features, ridge alpha ")
    assert re.match(r"MiniRocket dilations 1-3 for sequences of up to 26 "
                    r"steps, counted at every 1 step\(s\), on the values; "
                    r"ridge penalty by leave-one-out over 270 training "
                    r"sequences", path["reason"])


def test_long_sequences_are_downsampled_near_the_target(tmp_path):
    synthetic = load_script("data/synthetic.py")
    spec = synthetic.write_dataset(tmp_path / "long", count=150,
                                   steps=(400, 601))
    config = PipelineConfig(dataset=spec, output=str(tmp_path / "run"),
                            model=ModelConfig(**{**SHORT,
                                                 "train_steps": 0}),
                            latency_budgets_ms=LOOSE_BUDGETS)
    summary = runner.run(config)
    choice = data_choices(config)["downsample"]
    assert summary.data_choices == data_choices(config)  # printed too
    # 90th percentile of 400-600 steps: ~580 -> 6 steps become one.
    assert choice["value"] == 6, choice
    assert "every 6 steps become one" in choice["reason"]
    # The MiniRocket path's dilations follow the length: up to ~(600-1)/8.
    dilations = re.match(r"MiniRocket dilations 1-(\d+) for sequences of "
                         r"up to (\d+) steps",
                         data_choices(config)["rocket_features"]["reason"])
    longest = int(dilations.group(2))
    assert 400 <= longest <= 600
    assert int(dilations.group(1)) == rocket.choose_dilations(longest)[0][-1]
    assert int(dilations.group(1)) >= 49
    # The step count left to the data: a small set gets the 600 floor.
    steps = summary.data_choices["train_steps"]
    examples = int(re.match(r"(\d+) training examples",
                            choice["reason"]).group(1))
    assert steps["value"] == data_defaults.choose_train_steps(
        examples, 32) == data_defaults.DEFAULT_STEPS
    assert f"{examples} training examples in batches of 32" in \
        steps["reason"]
    assert summary.serving_blessed is True  # noise-free, deterministic
    assert summary.metrics["sparse_categorical_accuracy"] > 0.8
    assert summary.pushed_path


def test_one_training_sequence_per_class_trains_without_a_slice(tmp_path):
    """One training sequence per speaker (the archive's Fungi and PigCVP
    kind): no class can spare one for the validation slice, so it is
    empty. The run goes on and says so: early stopping off (every round
    run, scored on the training data), the MiniRocket path fitted on the
    9 sequences once (not twice), and a model that serves noise-free."""
    with open(os.path.join(REPO, "data", "japanese_vowels.csv"),
              encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    kept, speakers = set(), set()
    for row in body:  # the first training sequence of each speaker
        if row[-1] == "train" and row[-2] not in speakers:
            speakers.add(row[-2])
            kept.add(row[0])
    body = [r for r in body if r[0] in kept or
            (r[-1] == "eval" and int(r[0].split("-")[-1]) % 8 == 0)]
    folder = tmp_path / "one_each"
    folder.mkdir()
    with open(folder / "data.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, *body])
    spec_text = (REPO / "schemas" / "japanese_vowels" /
                 "dataset.yaml").read_text(encoding="utf-8")
    (folder / "dataset.yaml").write_text(
        re.sub(r"(?m)^csv: .*$", "csv: data.csv", spec_text),
        encoding="utf-8")
    config = PipelineConfig(dataset=str(folder / "dataset.yaml"),
                            output=str(tmp_path / "run"),
                            model=ModelConfig(**SHORT), min_accuracy=0.0,
                            latency_budgets_ms=LOOSE_BUDGETS)
    summary = runner.run(config)
    assert summary.example_counts["examples_train"] == 9
    assert summary.example_counts["examples_validation"] == 0
    choice = data_choices(config)["early_stopping_patience"]
    assert choice["value"] == 0
    assert choice["reason"].startswith(
        "the validation slice is empty: 9 training sequences leave none to "
        "spare at --validation-fraction 0.15")
    assert "over 9 training sequences" in \
        data_choices(config)["rocket_features"]["reason"]
    root = os.path.join(config.pipeline_root, "Trainer", "model_run")
    with open(os.path.join(root, max(os.listdir(root), key=int),
                           contracts.HISTORY_FILE), encoding="utf-8") as f:
        history = json.load(f)
    assert history["step"][-1] == SHORT["train_steps"]  # never stopped
    assert summary.serving_blessed is True
    assert summary.pushed_path
