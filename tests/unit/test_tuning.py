"""The Tuner's pieces: which settings it tries, how it scores and chooses,
its folds, its options' errors, and how its choice reaches the Trainer."""

import json
import textwrap

import numpy as np
import pytest

from noisy_rnn.pipeline import cli
from noisy_rnn.pipeline.config import (TUNE_SPACE, ModelConfig,
                                       PipelineConfig, TuneConfig)
from noisy_rnn.pipeline.pipeline import create_pipeline
from noisy_rnn.pipeline.trainer import run_fn
from noisy_rnn.pipeline.trainer.paired import paired_gain
from noisy_rnn.pipeline.trainer.tuning import (NOISE_MIN_RELATIVE_GAIN,
                                               candidate_settings,
                                               choose_setting, cv_folds,
                                               has_noise, noise_sentence,
                                               runs_for)
from noisy_rnn.schemas.dataset_spec import SpecError, load_spec

SPEC = "schemas/japanese_vowels/dataset.yaml"
DEFAULTS = ModelConfig()


def result(noise, losses, units=64):
    return {"setting": {"noise": noise, "units": units}, "losses": losses}


# --- The choice --------------------------------------------------------------

def test_noise_within_the_runs_spread_is_not_chosen():
    # Noisy is lower on average, but run by run the difference flips sign.
    clean = result("none", [0.30, 0.20, 0.25])
    noisy = result("additive", [0.27, 0.22, 0.24])
    chosen, reason, gain = choose_setting([clean, noisy], DEFAULTS)
    assert chosen is clean
    assert gain == pytest.approx(0.02 / 3)
    assert "did not help beyond the runs' spread" in reason


def test_noise_beyond_the_runs_spread_is_chosen():
    clean = result("none", [0.30, 0.20, 0.25])
    noisy = result("multiplicative", [0.25, 0.16, 0.20])
    other = result("none", [0.31, 0.21, 0.26], units=32)
    chosen, reason, gain = choose_setting([clean, noisy, other], DEFAULTS)
    assert chosen is noisy and reason.startswith("noise helped")
    assert gain == pytest.approx(0.0467, abs=1e-3)


def test_a_steady_but_tiny_gain_from_noise_is_not_chosen():
    # Lower in every run (so beyond the standard error) but by 0.2 % of
    # the loss: under the practical-significance floor.
    clean = result("none", [0.1000, 0.1200, 0.1100])
    noisy = result("additive", [0.0998, 0.1198, 0.1097])
    chosen, reason, gain = choose_setting([clean, noisy], DEFAULTS)
    assert chosen is clean and gain == pytest.approx(0.00023, abs=1e-5)
    assert "not help by a meaningful margin" in reason
    assert f"{NOISE_MIN_RELATIVE_GAIN:.0%} of the loss" in reason


def test_identical_scores_choose_noise_free_and_say_so():
    clean = result("none", [0.2, 0.3])
    noisy = result("additive", [0.2, 0.3])
    chosen, reason, gain = choose_setting([noisy, clean], DEFAULTS)
    assert chosen is clean and gain == 0 and "no difference" in reason
    summary = {"trials": [{**noisy, "kept_steps": [0, 0]},
                          {**clean, "kept_steps": [0, 0]}],
               "chosen": 1, "noise_gain": 0.0,
               "defaults": DEFAULTS.__dict__}
    assert "linear path alone" in noise_sentence(summary)


def test_the_lowest_noise_free_setting_wins_among_noise_free_ones():
    a, b = result("none", [0.3, 0.3]), result("none", [0.2, 0.25], units=32)
    chosen, reason, gain = choose_setting([a, b], DEFAULTS)
    assert chosen is b and gain is None and "noise-free" in reason


def test_paired_gain_and_its_standard_error():
    gain, error = paired_gain([1.0, 2.0, 3.0], [0.5, 1.5, 2.0])
    assert gain == pytest.approx(2 / 3)
    assert error == pytest.approx(np.std([0.5, 0.5, 1.0], ddof=1) / 3 ** .5)
    assert paired_gain([1.0], [0.5])[1] == float("inf")


# --- The candidates ------------------------------------------------------------

def test_settings_come_in_noise_free_and_noisy_pairs_from_the_defaults():
    space = {k: list(v) for k, v in TUNE_SPACE.items()}
    defaults = ModelConfig(noise="additive", noise_std=0.3)
    settings = candidate_settings(space, defaults, set(), 6, seed=0)
    assert len(settings) == 6
    assert len({json.dumps(s, sort_keys=True) for s in settings}) == 6
    # First: the default architecture without noise, then with its noise.
    assert settings[0] == {"initial_state": "trainable", "units": 64,
                           "conv_filters": 64, "noise": "none",
                           "noise_std": 0.3}
    assert settings[1] == {**settings[0], "noise": "additive",
                           "noise_std": 0.3}
    for clean, noisy in zip(settings[::2], settings[1::2]):
        shape = {k: v for k, v in clean.items() if k not in ("noise",
                                                               "noise_std")}
        assert not has_noise(clean, DEFAULTS) and has_noise(noisy, DEFAULTS)
        assert {k: noisy[k] for k in shape} == shape
        assert noisy["noise"] in space["noise"]
        assert noisy["noise_std"] in space["noise_std"]
    assert candidate_settings(space, defaults, set(), 6, seed=0) == settings
    # Noise off by default: each noisy twin is drawn from the space.
    drawn = candidate_settings(space, DEFAULTS, set(), 6, seed=0)
    assert [s["noise"] == "none" for s in drawn] == [True, False] * 3
    assert all(s["noise"] != "none" and s["noise_std"] in space["noise_std"]
               for s in drawn[1::2])


def test_options_set_by_the_user_are_not_searched():
    space = {k: list(v) for k, v in TUNE_SPACE.items()}
    fixed = {"noise", "units"}
    settings = candidate_settings(space, ModelConfig(noise="additive"),
                                  fixed, 4, seed=1)
    assert settings and all("noise" not in s and "units" not in s
                            for s in settings)
    assert all(s["noise_std"] in space["noise_std"] for s in settings)
    # Noise fixed off: its std is not searched either.
    off = candidate_settings(space, ModelConfig(noise="none"),
                             {"noise", "noise_std"}, 3, seed=1)
    assert all(set(s) == {"initial_state", "units", "conv_filters"}
               for s in off)


def test_a_small_space_gives_fewer_settings_than_the_budget():
    space = {"noise": ["none", "additive"], "noise_std": [0.1],
             "units": [32]}
    settings = candidate_settings(space, DEFAULTS, set(), 10, seed=0)
    assert settings == [{"units": 32, "noise": "none", "noise_std": 0.3},
                        {"units": 32, "noise": "additive", "noise_std": 0.1}]


# --- The runs ----------------------------------------------------------------

def test_stratified_folds_cover_every_sequence_once_and_share_classes():
    labels = np.array([0] * 9 + [1] * 6 + [2] * 3)
    folds = cv_folds(labels, 3, stratify=True, seed=0)
    assert sorted(np.concatenate(folds)) == list(range(18))
    for fold in folds:
        assert sorted(np.bincount(labels[fold])) == [1, 2, 3]


def test_window_folds_are_contiguous_blocks_in_order():
    folds = cv_folds(np.zeros(10), 3, stratify=False, seed=0)
    assert [list(f) for f in folds] == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]


def test_small_training_sets_are_scored_by_cross_validation():
    tune = TuneConfig(cv_below=500)
    runs, protocol = runs_for(tune, DEFAULTS, 225, 45, True)
    assert runs is None and protocol.startswith("3-fold cross-validation")
    runs, protocol = runs_for(tune, DEFAULTS, 900, 150, False)
    assert len(runs) == 2 and {seed for _, _, seed in runs} == {0, 1}
    for train, held, _ in runs:
        assert list(held) == list(range(900, 1050))
        assert list(train) == list(range(900))
    assert "validation slice (150 examples), 2 seeds" == protocol
    # No validation slice: cross-validation whatever the size.
    assert runs_for(tune, DEFAULTS, 5000, 0, False)[0] is None


# --- Options and their errors ------------------------------------------------

@pytest.mark.parametrize("change, message", [
    ({"trials": 0}, r"--tune-trials: must be an integer >= 1, got 0"),
    ({"seeds": 1}, r"--tune-seeds: must be an integer >= 2"),
    ({"folds": 1}, r"--tune-folds: must be an integer >= 2"),
    ({"steps": -5}, r"--tune-steps: must be an integer >= 0"),
    ({"space": {"noise_std": [0.1, -0.2]}}, r"--tune-noise-std: must be > 0"),
    ({"space": {"units": [0]}}, r"--tune-units: must be whole numbers >= 1"),
    ({"space": {"noise": ["gaussian"]}},
     r"--tune-noise: 'gaussian' is not one of none, additive"),
    ({"space": {"dropout": [0.1]}}, r"--tune-dropout: not a searched option"),
    ({"space": {"units": []}}, r"--tune-units: must be a non-empty list"),
])
def test_nonsense_tuning_options_are_refused_by_name(change, message):
    with pytest.raises(ValueError, match=message):
        TuneConfig(**change).validate()


def test_none_is_always_among_the_noise_families():
    tune = TuneConfig(space={"noise": ["additive"]})
    tune.validate()
    assert tune.space["noise"] == ["none", "additive"]


def _spec(tmp_path, tune_text):
    (tmp_path / "toy.csv").write_text("id,t,a,y,split\n1,0,0.1,x,train\n")
    path = tmp_path / "dataset.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: toy
        csv: toy.csv
        mode: sequences
        sequence_id: id
        step: t
        features: [a]
        label: y
        task: classification
        split: {{column: split}}
        {tune_text}
        """))
    return str(path)


def test_the_spec_tune_key_turns_the_tuner_on(tmp_path):
    path = _spec(tmp_path, "tune: {trials: 4, noise_std: [0.05, 0.1]}")
    spec = load_spec(path)
    assert spec.tune["trials"] == 4
    config = PipelineConfig(dataset=path, output=str(tmp_path / "out"))
    assert config.tune.trials == 4
    assert config.tune.space["noise_std"] == [0.05, 0.1]
    assert "tune" not in spec.to_dict()  # the Trainer's cache ignores it
    off = PipelineConfig(dataset=path, output=str(tmp_path / "o"), tune=False)
    assert off.tune is None
    assert load_spec(_spec(tmp_path, "tune: true")).tune == {}


@pytest.mark.parametrize("tune_text, message", [
    ("tune: 3", r"line 10: key 'tune': must be true, false or a mapping"),
    ("tune: {trials: 0}", r"line 10: key 'tune': option trials: must be an "
                          r"integer >= 1"),
    ("tune: {speed: 2}", r"line 10: key 'tune': unknown option 'speed'"),
    ("tune: {noise_std: [-1]}", r"line 10: key 'tune': option noise-std: "
                                r"must be > 0"),
])
def test_spec_tune_mistakes_name_file_line_and_key(tmp_path, tune_text,
                                                    message):
    with pytest.raises(SpecError, match=r"dataset\.yaml: " + message):
        load_spec(_spec(tmp_path, tune_text))


def test_the_cli_records_which_model_options_the_user_gave(tmp_path):
    parser = cli.build_parser()
    args = parser.parse_args([
        "run", "--dataset", SPEC, "--output", str(tmp_path), "--units", "64",
        "--no-autoregressive", "--tune-trials", "4", "--tune-units", "16,32"])
    config = cli._pipeline_config(args)  # pylint: disable=protected-access
    # --units given its default value still counts as given.
    assert config.explicit_options == ["autoregressive", "units"]
    assert config.tune.trials == 4 and config.tune.space["units"] == [16, 32]
    plain = cli._pipeline_config(parser.parse_args(  # pylint: disable=protected-access
        ["run", "--dataset", SPEC, "--output", str(tmp_path)]))
    assert plain.tune is None and plain.explicit_options == []
    with pytest.raises(SystemExit, match="--tune-noise-std: must be > 0"):
        cli._pipeline_config(parser.parse_args(  # pylint: disable=protected-access
            ["run", "--dataset", SPEC, "--output", str(tmp_path),
             "--tune-noise-std", "0"]))


def test_the_tuner_sits_between_transform_and_trainer(tmp_path):
    config = PipelineConfig(dataset=SPEC, output=str(tmp_path), tune=True,
                            explicit_options=["units"])
    pipeline = create_pipeline(config)
    ids = [c.id for c in pipeline.components]
    assert ids.index("Transform") < ids.index("Tuner") < ids.index("Trainer")
    [tuner] = [c for c in pipeline.components if c.id == "Tuner"]
    [trainer] = [c for c in pipeline.components if c.id == "Trainer"]
    assert json.loads(tuner.exec_properties["eval_args"])["splits"] == [
        "validation"]
    assert json.loads(tuner.exec_properties["train_args"])["splits"] == [
        "train"]
    assert trainer.inputs["hyperparameters"].producer_component_id == "Tuner"
    assert json.loads(trainer.exec_properties["custom_config"])[
        "explicit"] == ["units"]


def test_the_trainer_takes_tuned_values_except_the_users():
    tuned = {"values": {"noise": "multiplicative", "noise_std": 0.1,
                        "units": 32.0, "conv_filters": 128}}
    config, choices = run_fn.apply_tuned(ModelConfig(units=16), tuned,
                                         explicit=["units"])
    assert (config.noise, config.noise_std, config.units,
            config.conv_filters) == ("multiplicative", 0.1, 16, 128)
    assert isinstance(config.conv_filters, int)
    assert set(choices) == {"noise", "noise_std", "conv_filters"}
    unchanged, none = run_fn.apply_tuned(ModelConfig(), None, [])
    assert unchanged == ModelConfig() and none == {}


def test_nothing_left_to_search_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(ValueError, match=r"--tune: nothing to search"):
        PipelineConfig(dataset=SPEC, output=str(tmp_path), tune=True,
                       model=ModelConfig(layers=0, conv_filters=0),
                       explicit_options=["layers", "conv_filters"])
    config = PipelineConfig(dataset=SPEC, output=str(tmp_path), tune=True,
                            model=ModelConfig(noise="none"),
                            explicit_options=["noise", "units"])
    assert config.searched_options() == ["initial_state", "conv_filters"]
