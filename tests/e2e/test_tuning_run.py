"""A short tuned pipeline run on JapaneseVowels: the Tuner chooses among
three settings on the training folds, the Trainer trains the chosen one,
the rerun is cached, the report shows the trials, and the eval split is
never read (a corrupted eval split fails the Evaluator, not the Tuner or
the Trainer)."""

import glob
import json
import os

import pytest

from conftest import LOOSE_BUDGETS, SHORT

from noisy_rnn.pipeline.config import ModelConfig, PipelineConfig, TuneConfig
from noisy_rnn.pipeline.ops import runner
from noisy_rnn.pipeline.ops.report.render import render_run
from noisy_rnn.schemas import contracts

# Without the linear path, so the settings differ in what they learn.
MODEL = ModelConfig(**{**SHORT, "rocket_features": 0})
SPACE = {"noise": ["none", "additive"], "noise_std": [0.1],
         "initial_state": ["zeros", "trainable"], "units": [16],
         "conv_filters": [8]}


def _config(output, **tune):
    return PipelineConfig(
        dataset="japanese_vowels", output=output, model=MODEL,
        tune=TuneConfig(trials=3, steps=40, folds=2, space=dict(SPACE),
                        **tune),
        explicit_options=["rocket_features"],
        latency_budgets_ms=LOOSE_BUDGETS)


@pytest.fixture(scope="module")
def tuned_run(tmp_path_factory):
    config = _config(str(tmp_path_factory.mktemp("tuned")))
    lines = []
    summary = runner.run(config, echo=lines.append)
    return config, summary, lines


def _model_run(config):
    [path] = glob.glob(os.path.join(config.pipeline_root, "Trainer",
                                    "model_run", "*"))
    return path


def test_the_tuner_chooses_on_training_folds_and_the_trainer_uses_it(
        tuned_run):
    config, summary, lines = tuned_run
    tuning = summary.tuning
    assert summary.states["Tuner"] == "complete" and summary.pushed_path
    assert len(tuning["trials"]) == 3
    settings = [t["setting"] for t in tuning["trials"]]
    assert settings[0]["noise"] == "none" and settings[1]["noise"] == \
        "additive"
    assert tuning["protocol"].startswith("2-fold cross-validation over 270 ")
    for trial in tuning["trials"]:
        assert len(trial["losses"]) == 2 and trial["mean"] > 0
    # Only the training split and the validation slice were given to it.
    read = tuning["files_read"]
    assert [os.path.basename(os.path.dirname(p)) for p in read["train"]] \
        == ["Split-train"]
    assert [os.path.basename(os.path.dirname(p))
            for p in read["validation"]] == ["Split-validation"]
    chosen = tuning["trials"][tuning["chosen"]]["setting"]
    with open(os.path.join(_model_run(config),
                           contracts.MODEL_CONFIG_FILE)) as f:
        trained = json.load(f)
    for name, value in chosen.items():
        assert trained[name] == value, name
    assert trained["rocket_features"] == 0  # set by the user: kept
    assert trained["train_steps"] == SHORT["train_steps"]  # not the Tuner's
    assert any(line.strip().startswith("Tuner") and "trial 1 of 3" in line
               for line in lines), lines


def test_the_summary_and_the_report_show_the_trials(tuned_run):
    config, summary, _ = tuned_run
    lines = []
    runner.print_summary(summary, echo=lines.append)
    text = "\n".join(lines)
    assert "tuning: 3 settings by 2-fold cross-validation" in text
    assert "chosen: --" in text and "Noise" in text
    page = render_run(config.output)
    tuning = page[page.index('<section id="tuning">'):]
    tuning = tuning[:tuning.index("</section>")]
    assert tuning.count("<tr>") == 1 + 3  # header and one row per trial
    assert "<b>chosen</b>" in tuning and "--initial-state" in tuning


def test_an_identical_rerun_reuses_the_search(tuned_run):
    config, summary, _ = tuned_run
    again = runner.run(config, echo=lambda _: None)
    assert again.states["Tuner"] == "cached"
    assert again.states["Trainer"] == "cached"
    assert again.tuning["chosen"] == summary.tuning["chosen"]


def test_the_eval_split_is_never_read_by_tuner_or_trainer(tuned_run):
    config, _, _ = tuned_run
    [examples] = glob.glob(os.path.join(config.pipeline_root,
                                        "SequenceExampleGen", "examples",
                                        "*"))
    for path in glob.glob(os.path.join(examples, "Split-eval", "*")):
        with open(path, "wb") as f:
            f.write(b"not a TFRecord file")
    # A changed option reruns the Tuner (on the validation slice this
    # time) and the Trainer on the cached examples.
    changed = _config(config.output, cv_below=0)
    with pytest.raises(Exception):
        runner.run(changed, echo=lambda _: None)
    from noisy_rnn.pipeline.ops.run_records import summarize_latest_run  # pylint: disable=import-outside-toplevel
    summary = summarize_latest_run(changed)
    assert summary.states["Tuner"] == "complete"
    assert summary.states["Trainer"] == "complete"
    assert summary.states["Evaluator"] == "failed"
    assert summary.tuning["protocol"] == \
        "validation slice (45 examples), 2 seeds"
