"""The fixed linear paths beside the recurrent branch: the MiniRocket bank
(masking exactness, determinism), the ridge's leave-one-out choice, the
linear AR, and how the model wires them."""

import re

import numpy as np
import pytest
import tensorflow as tf

from repo_files import padded_batch

from noisy_rnn.pipeline.config import ModelConfig
from noisy_rnn.pipeline.trainer import linear_paths, rocket, run_fn
from noisy_rnn.pipeline.trainer.architecture import LINEAR_OFFSET, build_model
from noisy_rnn.schemas.dataset_spec import load_spec


def sequences_of(lengths, channels=3, seed=0):
    values, mask = padded_batch(lengths, max(lengths), channels, seed)
    return [v[m] for v, m in zip(values, mask)]


def fitted_bank(lengths, features=840, seed=0, differences=False):
    options, constants = rocket.fit_minirocket(sequences_of(lengths), seed,
                                               features, differences)
    bank = rocket.MaskedMiniRocket(**options)
    bank.set_constants(**constants)
    return bank


def test_dilations_span_the_sequence_and_share_out_the_features():
    dilations, counts = rocket.choose_dilations(427)
    assert dilations[0] == 1 and dilations[-1] == (427 - 1) // 8
    assert sum(counts) == 10_000 // rocket.NUM_KERNELS
    # Shorter than one kernel: dilation 1 only, every feature kept.
    assert rocket.choose_dilations(5) == ([1], [119])


@pytest.mark.parametrize("differences", [False, True])
def test_bank_ignores_padding_and_garbage_in_padded_steps(differences):
    bank = fitted_bank([60, 40, 9], differences=differences)
    lengths = [60, 40, 9, 3]
    values, mask = padded_batch(lengths, time=60, seed=1)
    features = bank(values, mask).numpy()
    longer, longer_mask = padded_batch(lengths, time=90, seed=1)
    longer[~longer_mask] = 99.0
    assert np.array_equal(bank(longer, longer_mask).numpy(), features)
    for row, length in enumerate(lengths):
        alone = bank(values[row:row + 1, :length],
                     mask[row:row + 1, :length]).numpy()
        assert np.allclose(alone, features[row:row + 1], atol=1e-6)
    assert features.shape == (4, bank.num_features)
    assert ((features >= 0) & (features <= 1)).all()


@pytest.mark.parametrize("length, stride", [
    (100, 1), (128, 1),      # every step
    (150, 2), (256, 2),      # 128 positions at most...
    (427, 3), (1460, 2)])    # ... or half the steps of a longer sequence
def test_the_stride_leaves_128_positions_or_half_the_steps(length, stride):
    assert rocket.choose_stride(length) == stride


def test_long_sequences_are_counted_at_strided_steps_still_exactly(
        monkeypatch):
    monkeypatch.setattr(rocket, "MAX_POSITIONS", 16)
    monkeypatch.setattr(rocket, "MIN_POSITION_SHARE", 0.0)
    bank = fitted_bank([70, 50, 64])
    assert bank.stride == 5  # ceil(70 / 16)
    lengths = [70, 33, 6]
    values, mask = padded_batch(lengths, time=70, seed=1)
    features = bank(values, mask).numpy()
    longer, longer_mask = padded_batch(lengths, time=83, seed=1)
    longer[~longer_mask] = 99.0
    assert np.allclose(bank(longer, longer_mask).numpy(), features,
                       atol=1e-6)
    for row, length in enumerate(lengths):
        alone = bank(values[row:row + 1, :length],
                     mask[row:row + 1, :length]).numpy()
        assert np.allclose(alone, features[row:row + 1], atol=1e-6)
    # The strided outputs are the full convolution's, every 5th step.
    kernel, dilation = bank.kernels[1], bank.dilations[1]
    full = rocket._convolve(values, kernel, dilation)  # pylint: disable=protected-access
    strided = rocket._convolve(values, kernel, dilation, stride=5)  # pylint: disable=protected-access
    assert np.allclose(strided, full[:, ::5], atol=1e-5)


@pytest.mark.parametrize("positions", [1, 255, 256, 700])
def test_ppv_counts_are_exact_below_and_beyond_a_bytes_range(positions):
    """The PPV count (`rocket._count_true`): summed as bytes below 256
    positions, as int32 from 256; the same counts as NumPy's either way."""
    flags = np.random.default_rng(positions).random(
        (3, 4, 2, positions)) < 0.9
    counts = rocket._count_true(tf.constant(flags), tf.float32)  # pylint: disable=protected-access
    np.testing.assert_array_equal(counts.numpy(), flags.sum(-1))


def test_bank_fit_is_seeded():
    first, again, other = (fitted_bank([30, 20, 25], seed=s)
                           for s in (0, 0, 1))
    values, mask = padded_batch([30, 12], time=30, seed=2)
    assert np.array_equal(first(values, mask), again(values, mask))
    assert not np.array_equal(first(values, mask), other(values, mask))


@pytest.mark.parametrize("rows, columns", [(12, 30), (40, 5)])
def test_ridge_leave_one_out_matches_refitting_without_each_row(rows,
                                                                 columns):
    rng = np.random.default_rng(0)
    features = rng.normal(size=(rows, columns)).astype(np.float32)
    targets = rng.normal(size=(rows, 2)).astype(np.float32)
    _, _, alpha, loo = linear_paths.ridge_leave_one_out(
        features, targets, alphas=[0.5])
    for row in range(rows):
        keep = np.arange(rows) != row
        weights, intercept, _, _ = linear_paths.ridge_leave_one_out(
            features[keep], targets[keep], alphas=[alpha])
        assert np.allclose(features[row] @ weights + intercept, loo[row],
                           atol=1e-3)


def test_rocket_ridge_learns_shapes_and_reports_its_choice():
    rng = np.random.default_rng(0)
    steps = np.linspace(0, 4 * np.pi, 50)
    sequences, labels = [], []
    for index in range(40):
        label = index % 2
        wave = np.sin(steps) if label else np.sign(np.sin(steps))
        sequences.append((wave + 0.3 * rng.normal(size=50))[:, None])
        labels.append(label)
    path = linear_paths.fit_rocket_ridge(sequences, labels, 2, seed=0,
                                         num_features=840)
    assert path.offsets.shape == (40, 2)
    assert (path.offsets.argmax(1) == labels).mean() > 0.9
    assert "leave-one-out" in path.choice["reason"]
    assert path.scale > 0
    both = linear_paths.fit_rocket_ridge(sequences, labels, 2, seed=0,
                                         num_features=840, differences=True)
    assert [bank.differences for bank in both.layer.banks] == [False, True]
    assert "on the values and their differences" in both.choice["reason"]
    assert (both.offsets.argmax(1) == labels).mean() > 0.9


def test_autoregressive_path_recovers_a_linear_process():
    rng = np.random.default_rng(0)
    series = np.zeros(400)
    for t in range(2, 400):
        series[t] = 0.6 * series[t - 1] - 0.3 * series[t - 2] + \
            0.1 * rng.normal()
    windows = [series[t - 8:t, None] for t in range(8, 400)]
    targets = np.array([series[t] for t in range(8, 400)])
    path = linear_paths.fit_autoregressive(windows[:300], targets[:300])
    kernel = path.layer.ar_kernel.numpy()[:, 0]
    assert kernel[-1] == pytest.approx(0.6, abs=0.05)
    assert kernel[-2] == pytest.approx(-0.3, abs=0.05)
    values, mask = rocket.padded(windows[300:])
    predicted = path.layer(values, mask).numpy()[:, 0]
    assert np.abs(predicted - targets[300:]).mean() < 0.1
    assert path.offsets.shape == (300, 1)  # leave-one-out, each window


def latest_windows_case(seed, growth=10.0):
    """``(inputs, targets)``: 120 noisy windows of small swings, then 20
    validation windows whose swings are ``growth`` times larger and
    noise-free (a growing seasonal swing, as in the airline series; 1:
    like the others, noise and all)."""
    rng = np.random.default_rng(seed)
    inputs = rng.normal(0, 0.3, size=(140, 4))
    targets = 3 * inputs[:, -1] + rng.normal(0, 1, size=140)
    if growth != 1:
        inputs[120:] *= growth
        targets[120:] = 3 * inputs[120:, -1]
    return inputs.astype(np.float32), targets.astype(np.float32)


def test_least_squares_is_kept_when_it_forecasts_the_latest_windows_better():
    """A penalty that leave-one-out could choose for the noisy earlier
    windows shrinks the forecast of larger latest swings: least squares
    forecasts them better, by more than one standard error. Where the
    latest windows are like the others, or too few to tell, the penalty
    stays."""
    alpha = linear_paths.AR_ALPHAS[12]  # 100
    better = linear_paths.least_squares_forecasts_better
    for seed in range(3):
        assert better(*latest_windows_case(seed), 20, alpha)
        assert not better(*latest_windows_case(seed, growth=1), 20,
                          linear_paths.AR_ALPHAS[7])  # 0.3
    inputs, targets = latest_windows_case(0)
    assert not better(inputs, targets, 1, alpha)  # one window: no spread
    assert not better(inputs, targets, 20, linear_paths.AR_ALPHAS[0])
    assert not better(inputs[:24], targets[:24], 20, alpha)  # 4 to fit 4


def test_the_ar_path_says_which_penalty_the_latest_windows_chose():
    """Through `fit_autoregressive` (leave-one-out over all 140 windows
    first): swings 3x larger in the slice tip it to least squares in this
    draw (in 2 of 5 seeds: the rule is conservative); the same windows
    without the growth keep leave-one-out's penalty."""
    inputs, targets = latest_windows_case(0, growth=3)
    path = linear_paths.fit_autoregressive(
        [row[:, None] for row in inputs], targets, 20)
    assert path.choice["value"].endswith(
        f"ridge alpha {linear_paths.AR_ALPHAS[0]:.3g}")
    assert path.choice["reason"].startswith(
        "least squares: it forecast the 20 validation windows better than "
        "leave-one-out's penalty by more than one standard error")
    inputs, targets = latest_windows_case(0, growth=1)
    path = linear_paths.fit_autoregressive(
        [row[:, None] for row in inputs], targets, 20)
    assert path.choice["reason"].startswith(
        "penalty by leave-one-out over 140 training and validation windows")


def test_autoregressive_path_reads_each_sequence_s_own_last_steps():
    layer = linear_paths.LinearAutoregressive(lags=3, num_channels=1)
    layer.ar_kernel.assign([[1.0], [10.0], [100.0]])
    values = np.array([[[1.], [2.], [3.], [4.]], [[5.], [6.], [0.], [0.]]],
                      np.float32)
    mask = np.array([[True] * 4, [True, True, False, False]])
    # [2, 3, 4] and [(none), 5, 6]
    assert layer(values, mask).numpy()[:, 0].tolist() == [432.0, 650.0]


@pytest.mark.parametrize("num_outputs", [3, 1])
def test_model_adds_the_trained_branches_to_the_fixed_path(num_outputs):
    sequences = sequences_of([20, 15, 18, 12, 20, 16])
    if num_outputs > 1:
        path = linear_paths.fit_rocket_ridge(sequences, [0, 1, 2] * 2, 3,
                                             seed=0, num_features=840)
    else:
        path = linear_paths.fit_autoregressive(sequences, np.arange(6.0))
    model = build_model(ModelConfig(units=4, conv_filters=2), 3,
                        num_outputs, linear_path=path)
    values, mask = padded_batch([20, 9], time=20)
    offset = path.layer(values, mask)
    inputs = {"values": values, "mask": mask}
    combined, alone = model.trained_part({**inputs, "offset": offset})
    assert np.allclose(model(inputs), combined, atol=1e-6)
    # The path's weights are constants: training never reaches them.
    assert not path.layer.trainable_weights
    assert all(w.trainable for w in model.trained_part.trainable_weights)
    # The branches' weight starts at zero: the path's own output.
    assert np.allclose(model(inputs), path.scale * offset, atol=1e-6)
    # Dropping the path leaves the branches' own output.
    model.trained_part.get_layer(LINEAR_OFFSET).keep_branch_alone()
    assert np.allclose(model(inputs), alone, atol=1e-6)


def test_the_level_channel_reaches_the_path_only():
    """With ``path_channels``, the branches read the other channels: the
    last one (a forecast channel's level) moves the output only through
    the linear path."""
    sequences = [np.concatenate([s, np.full((len(s), 1), float(i))], 1)
                 for i, s in enumerate(sequences_of([12, 9, 12, 10, 11,
                                                     12]))]
    path = linear_paths.fit_autoregressive(sequences, np.arange(6.0))
    model = build_model(ModelConfig(units=4, conv_filters=2), 4, 1,
                        linear_path=path, path_channels=1)
    values, mask = padded_batch([12, 9], time=12, channels=4)
    moved = values.copy()
    moved[..., -1] += 5.0
    inputs = {"mask": mask, "offset": path.layer(values, mask)}
    _, alone = model.trained_part({**inputs, "values": values})
    _, alone_moved = model.trained_part({**inputs, "values": moved})
    np.testing.assert_array_equal(alone, alone_moved)
    assert not np.allclose(path.layer(values, mask),
                           path.layer(moved, mask))


def test_no_branch_and_no_path_is_refused_by_name():
    with pytest.raises(ValueError, match=re.escape("--layers 0 and "
                                                   "--conv-filters 0")):
        build_model(ModelConfig(layers=0, conv_filters=0), 3, 2)
    with pytest.raises(ValueError, match="--rocket-features: must be >= 0"):
        ModelConfig(rocket_features=-1).validate()


@pytest.mark.parametrize("lengths", [[1], [2, 1], [3, 2, 1, 2]])
def test_tiny_training_sets_and_short_sequences_fit_without_error(lengths):
    sequences = sequences_of(lengths)
    path = linear_paths.fit_rocket_ridge(
        sequences, [i % 2 for i in range(len(lengths))], 2, seed=0,
        num_features=168)
    assert np.isfinite(path.offsets).all()
    values, mask = padded_batch([5, 1], time=5)
    assert np.isfinite(path.layer(values, mask).numpy()).all()
    ar = linear_paths.fit_autoregressive(sequences, np.arange(
        len(lengths), dtype=float))
    assert np.isfinite(ar.offsets).all() and ar.layer.lags == min(lengths)


def test_sequences_beyond_the_ridge_fit_get_the_layers_own_scores(
        monkeypatch):
    """More sequences than the ridge is fitted on: the rest are scored in
    slices of `RIDGE_MAX_EXAMPLES` (bounded memory), each the served
    layer's output for that sequence."""
    monkeypatch.setattr(linear_paths, "RIDGE_MAX_EXAMPLES", 4)
    lengths = [6, 3, 5, 7, 4, 6, 2, 5, 7, 3, 6]
    sequences = sequences_of(lengths)
    path = linear_paths.fit_rocket_ridge(
        sequences, [i % 3 for i in range(len(lengths))], 3, seed=0,
        num_features=168)
    fitted = np.sort(np.random.default_rng(0).permutation(len(lengths))[:4])
    rest = np.setdiff1d(np.arange(len(lengths)), fitted)
    values, mask = padded_batch(lengths, max(lengths))
    served = path.layer(values, mask).numpy()
    np.testing.assert_allclose(path.offsets[rest], served[rest], atol=1e-4)


def regression_spec(tmp_path, mode):
    extra = "window: 8\nhorizon: 1\n" if mode == "windows" else ""
    split = "{eval_fraction: 0.2}" if mode == "windows" else \
        "{column: split}"
    (tmp_path / "dataset.yaml").write_text(
        f"name: r\ncsv: r.csv\nmode: {mode}\nsequence_id: id\nstep: t\n"
        f"features: [x]\nlabel: y\ntask: regression\nsplit: {split}\n"
        f"{extra}")
    return load_spec(tmp_path / "dataset.yaml", check_csv=False)


def test_sequence_regression_keeps_the_path_with_less_leave_one_out_error(
        tmp_path):
    """A target per sequence: the MiniRocket ridge regressor beside the
    ridge AR, the one with the lower leave-one-out squared error kept and
    the comparison recorded. A sine's frequency (random phase) is not
    linear in its values: MiniRocket; the last value plus noise is: the
    AR. Forecasting windows keep the AR alone."""
    rng = np.random.default_rng(0)
    steps = np.arange(60)
    frequencies = rng.uniform(0.05, 0.2, 80)
    waves = [np.sin(2 * np.pi * f * steps + rng.uniform(0, 2 * np.pi))
             [:, None] for f in frequencies]
    config = ModelConfig(rocket_features=840)
    spec = regression_spec(tmp_path, "sequences")
    path = run_fn.regression_path(config, spec, waves,
                                  (frequencies - 0.125) / 0.04)
    assert isinstance(path.layer, linear_paths.RocketRidge)
    assert path.offsets.shape == (80, 1)
    assert re.search(r"kept over the ridge AR by leave-one-out squared "
                     r"error \(scaled\) ([\d.]+) against ([\d.]+)",
                     path.choice["reason"])
    last = np.array([w[-1, 0] for w in waves])
    path = run_fn.regression_path(config, spec, waves,
                                  last + 0.01 * rng.normal(size=80))
    assert isinstance(path.layer, linear_paths.LinearAutoregressive)
    assert "kept over the MiniRocket ridge" in path.choice["reason"]
    windows = run_fn.regression_path(config, regression_spec(
        tmp_path, "windows"), waves, (frequencies - 0.125) / 0.04)
    assert isinstance(windows.layer, linear_paths.LinearAutoregressive)
    assert run_fn.regression_path(
        ModelConfig(rocket_features=0, autoregressive=False), spec, waves,
        last) is None
