"""Long sequences through the real pipeline: the Trainer chooses the
front-end's downsampling factor and the MiniRocket path's dilations from
the training lengths and the step count from their number (and records
why), short sequences get no
downsampling, explicit options are not overridden, and the exported model
still serves noise-free and deterministically."""

import json
import os
import re

from conftest import LOOSE_BUDGETS, SHORT
from repo_files import load_script

from noisy_rnn.pipeline.config import ModelConfig, PipelineConfig
from noisy_rnn.pipeline.ops import runner
from noisy_rnn.pipeline.trainer import data_defaults, rocket
from noisy_rnn.schemas import contracts


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

