"""The Keras 3 layers (`noisy_rnn.keras3`) on whichever backend Keras runs:
the TensorFlow one in ``make test``'s main run, the JAX one when
`tests/e2e/test_keras3_backends.py` reruns this module with
``KERAS_BACKEND=jax``. Only Keras and NumPy here, so the same checks hold on
both: the tf_keras layers' properties (noise on the carried state, none at
inference, masking exactness, trained initial state and std, serialisation,
named errors)."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")
if not keras.__version__.startswith("3."):
    pytest.skip("Keras 3 layers", allow_module_level=True)

from layer_cases import BAD_LAYER_ARGUMENTS  # noqa: E402

from noisy_rnn import keras3  # noqa: E402
from noisy_rnn.keras3 import (  # noqa: E402
    NoisyGRU, NoisyLSTM, NoisyStateGRU, NoisyStateLSTM, StdPriorRegularizer,
    TrainableInitialStateAndConstantNoiseGRU,
    TrainableInitialStateAndConstantNoiseLSTM, TrainableInitialStateGRU,
    TrainableInitialStateLSTM)

PRESETS = [TrainableInitialStateGRU, NoisyGRU,
           TrainableInitialStateAndConstantNoiseGRU, TrainableInitialStateLSTM,
           NoisyLSTM, TrainableInitialStateAndConstantNoiseLSTM]
NOISY_PRESETS = [NoisyGRU, TrainableInitialStateAndConstantNoiseGRU,
                 NoisyLSTM, TrainableInitialStateAndConstantNoiseLSTM]


def is_lstm(layer_or_class):
    cls = layer_or_class if isinstance(layer_or_class, type) \
        else type(layer_or_class)
    return issubclass(cls, keras.layers.LSTM)


def sequences(batch=4, time=10, features=3, seed=0):
    return np.random.default_rng(seed).normal(
        size=(batch, time, features)).astype("float32")


def stock_twin(layer, x, **kwargs):
    """A stock Keras 3 layer of the same kind, with ``layer``'s cell
    weights."""
    stock = (keras.layers.LSTM if is_lstm(layer) else keras.layers.GRU)(
        layer.units, **kwargs)
    stock.build(x.shape)
    for target, source in zip(stock.cell.weights, layer.cell.weights):
        target.assign(source)
    return stock


def randomise_initial_state(layer, seed=3):
    rng = np.random.default_rng(seed)
    for vector in layer.initial_state_vectors:
        vector.assign(rng.normal(size=vector.shape).astype("float32"))


def numpy(value):
    return keras.ops.convert_to_numpy(value)


# --- noise only in training, on the carried state ---------------------------

@pytest.mark.parametrize("preset", PRESETS)
def test_two_inference_calls_are_bit_identical(preset):
    layer = preset(8, return_sequences=True)
    x = sequences()
    np.testing.assert_array_equal(numpy(layer(x)), numpy(layer(x)))
    np.testing.assert_array_equal(numpy(layer(x, training=False)),
                                  numpy(layer(x)))


@pytest.mark.parametrize("preset", NOISY_PRESETS)
def test_training_calls_differ_down_to_the_final_carried_state(preset):
    layer = preset(8, return_state=True, seed=1)
    x = sequences()
    first, second = layer(x, training=True), layer(x, training=True)
    for a, b in zip(first, second):  # output, then every final state
        assert not np.allclose(numpy(a), numpy(b))


@pytest.mark.parametrize("preset", PRESETS)
def test_inference_equals_the_stock_layer_fed_the_initial_state(preset):
    layer = preset(8, return_sequences=True, return_state=True)
    x = sequences()
    layer(x)
    randomise_initial_state(layer)
    stock = stock_twin(layer, x, return_sequences=True, return_state=True)
    initial_state = [np.tile(numpy(v)[None], (4, 1))
                     for v in layer.initial_state_vectors] or None
    for ours, theirs in zip(layer(x), stock(x, initial_state=initial_state)):
        np.testing.assert_array_equal(numpy(ours), numpy(theirs))


@pytest.mark.parametrize("noise", ["additive", "multiplicative"])
@pytest.mark.parametrize("layer_class", [NoisyStateGRU, NoisyStateLSTM])
def test_zero_std_training_matches_the_stock_layer(layer_class, noise):
    layer = layer_class(8, noise=noise, noise_std=0.0, return_sequences=True)
    x = sequences()
    layer(x)
    stock = stock_twin(layer, x, return_sequences=True)
    np.testing.assert_allclose(numpy(layer(x, training=True)),
                               numpy(stock(x, training=True)), atol=1e-6)


def test_noise_accumulates_through_the_carried_gru_state():
    """Update gate held open (z ~ 1): the GRU copies its state forward, so
    noise on the *carried* state adds up (variance ~ t * std^2); noise on
    the outputs only would stay at std^2."""
    layer = NoisyStateGRU(16, noise="additive", noise_std=0.5,
                          return_sequences=True, seed=2)
    x = np.zeros((512, 20, 1), "float32")
    layer(x)
    bias = numpy(layer.cell.bias).copy()
    bias[0, :16] = 20.0  # update gate's input bias: z = sigmoid(20) ~ 1
    layer.cell.bias.assign(bias)
    outputs = numpy(layer(x, training=True))
    assert outputs[:, 0].var() == pytest.approx(0.25, rel=0.15)
    assert outputs[:, -1].var() == pytest.approx(20 * 0.25, rel=0.15)


def test_unit_normals_are_standard_normal_of_any_shape():
    """The layers' noise draw (Box-Muller on TensorFlow, the backend's normal
    elsewhere): an odd-sized shape, and the quantiles, moments and pair
    correlation of N(0, 1)."""
    seed = keras.random.SeedGenerator(5)
    assert tuple(keras3.recurrent.unit_normals((3, 5, 7), "float32",
                                               seed).shape) == (3, 5, 7)
    draws = numpy(keras3.recurrent.unit_normals((200, 50, 41), "float32",
                                                seed)).ravel()
    assert np.isfinite(draws).all()
    assert draws.mean() == pytest.approx(0.0, abs=0.01)
    assert draws.std() == pytest.approx(1.0, abs=0.01)
    # N(0, 1) quantiles at 2.3 %, 16 %, 50 %, 84 %, 97.7 %
    np.testing.assert_allclose(
        np.quantile(draws, [0.02275, 0.15866, 0.5, 0.84134, 0.97725]),
        [-2.0, -1.0, 0.0, 1.0, 2.0], atol=0.03)
    half = len(draws) // 2
    assert abs(np.corrcoef(draws[:half], draws[half:2 * half])[0, 1]) < 0.01


@pytest.mark.parametrize("noise_on_cell_state", [False, True])
def test_lstm_cell_state_noise_is_carried_only_when_asked(noise_on_cell_state):
    """Forget gate open, input gate shut: ``c`` is copied forward, so it
    varies only if its own carried noise is on."""
    layer = NoisyStateLSTM(16, noise="additive", noise_std=0.5,
                           noise_on_cell_state=noise_on_cell_state,
                           return_state=True, seed=2)
    x = np.zeros((512, 20, 1), "float32")
    layer(x)
    bias = numpy(layer.cell.bias).copy()
    bias[:16], bias[16:32] = -20.0, 20.0  # input gate ~ 0, forget gate ~ 1
    layer.cell.bias.assign(bias)
    _, _, final_c = layer(x, training=True)
    if noise_on_cell_state:
        assert np.var(numpy(final_c)) == pytest.approx(20 * 0.25, rel=0.15)
    else:
        assert np.var(numpy(final_c)) < 1e-6


# --- masking -----------------------------------------------------------------

@pytest.mark.parametrize("preset", NOISY_PRESETS)
def test_masked_steps_keep_the_state_and_get_no_noise(preset):
    layer = preset(8, return_sequences=True, return_state=True)
    x = sequences(time=12)
    mask = np.array([[True] * 7 + [False] * 5] * 4)
    outputs, *final_states = layer(x, mask=mask, training=True)
    outputs = numpy(outputs)
    np.testing.assert_array_equal(numpy(final_states[0]), outputs[:, 6])
    for step in range(7, 12):  # Keras repeats the kept output when masked
        np.testing.assert_array_equal(outputs[:, step], outputs[:, 6])


@pytest.mark.parametrize("preset", PRESETS)
def test_padded_and_masked_equals_the_unpadded_run(preset):
    inputs = keras.Input((None, 3))
    layer = preset(8)
    model = keras.Model(inputs, layer(keras.layers.Masking(0.0)(inputs)))
    x = sequences(time=6)
    randomise_initial_state(layer)
    padded = np.concatenate([x, np.zeros((4, 5, 3), "float32")], axis=1)
    np.testing.assert_allclose(numpy(model(padded)), numpy(model(x)),
                               atol=1e-6)


# --- trainable initial state and std -------------------------------------------

@pytest.mark.parametrize("preset", NOISY_PRESETS)
def test_training_moves_the_initial_state_and_the_std(preset):
    """One optimiser step of a compiled model (the backend's own gradients)
    changes every trained initial state vector and the trained std."""
    inputs = keras.Input((10, 3))
    layer = preset(8, seed=4)
    model = keras.Model(inputs, keras.layers.Dense(1)(layer(inputs)))
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse")
    trained = [w for w in layer.trainable_weights
               if "initial_state" in w.path or "raw_std" in w.path]
    assert trained, "preset trains neither initial state nor std"
    before = [numpy(w).copy() for w in trained]
    model.train_on_batch(sequences(), np.full((4, 1), 5.0, "float32"))
    for weight, old in zip(trained, before):
        assert not np.allclose(numpy(weight), old), weight.path


def test_the_std_is_a_softplus_and_its_prior_regularizer_the_gaussian_kl():
    layer = NoisyGRU(8, noise_std_init=0.2,
                     noise_std_regularizer=StdPriorRegularizer(0.2, 1.0))
    layer(sequences())
    assert float(numpy(layer.current_noise_std())) == pytest.approx(0.2)
    assert float(numpy(sum(layer.losses))) == pytest.approx(0.0, abs=1e-6)
    layer.raw_std.assign(np.log(np.expm1(0.1)).astype("float32"))
    ratio = 0.5
    assert float(numpy(sum(layer.losses))) == pytest.approx(
        0.5 * ratio ** 2 - np.log(ratio) - 0.5, rel=1e-5)


def test_explicit_initial_state_wins_over_the_trainable_one():
    layer = TrainableInitialStateGRU(8)
    x = sequences()
    layer(x)
    randomise_initial_state(layer)
    given = [np.random.default_rng(5).normal(size=(4, 8)).astype("float32")]
    stock = stock_twin(layer, x)
    np.testing.assert_array_equal(numpy(layer(x, initial_state=given)),
                                  numpy(stock(x, initial_state=given)))


# --- Keras conventions ---------------------------------------------------------

@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("preset", PRESETS)
def test_return_sequences_and_return_state_shapes(preset, training):
    outputs, *states = preset(8, return_sequences=True, return_state=True)(
        sequences(), training=training)
    assert tuple(outputs.shape) == (4, 10, 8)
    assert len(states) == (2 if is_lstm(preset) else 1)
    assert all(tuple(s.shape) == (4, 8) for s in states)


@pytest.mark.parametrize("training", [False, True])
def test_stacked_and_bidirectional_with_go_backwards(training):
    inputs = keras.Input((None, 3))
    hidden = NoisyGRU(8, return_sequences=True, go_backwards=True)(inputs)
    bidirectional = keras.layers.Bidirectional(
        TrainableInitialStateAndConstantNoiseLSTM(4))
    model = keras.Model(inputs,
                        keras.layers.Dense(2)(bidirectional(hidden)))
    for time_steps in (5, 9):
        output = model(sequences(time=time_steps), training=training)
        assert tuple(output.shape) == (4, 2)
    backward = bidirectional.backward_layer
    assert type(backward) is TrainableInitialStateAndConstantNoiseLSTM
    assert backward.go_backwards and backward.initial_state_mode == "trainable"


def test_stateful_starts_from_the_trained_state_and_carries_it_on():
    layer = TrainableInitialStateGRU(8, stateful=True)
    x = sequences()
    layer.build(x.shape)
    randomise_initial_state(layer)
    layer.reset_state()  # back to the trained initial state
    stock = stock_twin(layer, x)
    initial_state = [np.tile(numpy(v)[None], (4, 1))
                     for v in layer.initial_state_vectors]
    first, second = numpy(layer(x)), numpy(layer(x))
    np.testing.assert_allclose(
        first, numpy(stock(x, initial_state=initial_state)), atol=1e-6)
    assert not np.allclose(first, second)  # the second starts where x ended


def test_a_backward_twin_draws_other_noise_from_the_same_seed():
    forward = NoisyStateGRU(8, noise="additive", noise_std=0.5, seed=3,
                            return_sequences=True)
    backward = NoisyStateGRU.from_config(
        {**forward.get_config(), "go_backwards": True})
    x = np.zeros((4, 6, 3), "float32")
    forward(x), backward(x)
    backward.cell.set_weights(forward.cell.get_weights())
    # Zero inputs and weights shared: the outputs differ only by noise.
    assert not np.allclose(numpy(forward(x, training=True))[:, 0],
                           numpy(backward(x, training=True))[:, 0])


@pytest.mark.parametrize("kind", ["numpy", "tensor"])
@pytest.mark.parametrize("preset", [NoisyGRU, TrainableInitialStateLSTM])
def test_numpy_and_backend_tensor_inputs_give_the_same_output(preset, kind):
    layer = preset(8)
    x = sequences()
    given = x if kind == "numpy" else keras.ops.convert_to_tensor(x)
    np.testing.assert_array_equal(numpy(layer(given)), numpy(layer(x)))


class _NoConfigInitializer(keras.initializers.Initializer):
    """An initializer the user never made serialisable: kept as the object
    given, as the stock layer keeps it."""

    def __call__(self, shape, dtype=None):
        return keras.ops.full(shape, 0.01, dtype=dtype)


def test_the_users_own_argument_objects_are_kept():
    initializer = _NoConfigInitializer()
    regularizer = keras.regularizers.L2(0.5)
    constraint = keras.constraints.NonNeg()
    layer = NoisyGRU(8, kernel_initializer=initializer,
                     recurrent_regularizer=regularizer,
                     bias_constraint=constraint)
    layer(sequences())
    assert layer.cell.kernel_initializer is initializer
    assert layer.cell.recurrent_regularizer is regularizer
    assert layer.cell.bias_constraint is constraint
    np.testing.assert_allclose(numpy(layer.cell.kernel), 0.01)


@pytest.mark.parametrize("preset", PRESETS)
def test_config_round_trips_every_argument(preset):
    layer = preset(8, return_sequences=True, dropout=0.1, go_backwards=True,
                   noise_std_regularizer=StdPriorRegularizer(0.2, 0.5),
                   name="encoder")
    config = layer.get_config()
    clone = preset.from_config(config)
    assert type(clone) is preset and clone.get_config() == config
    revived = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(revived) is preset and revived.get_config() == config


@pytest.mark.parametrize("preset", PRESETS)
def test_a_saved_model_file_round_trips_with_identical_outputs(preset,
                                                               tmp_path):
    inputs = keras.Input((None, 3))
    layer = preset(8, return_sequences=True)
    model = keras.Model(inputs, keras.layers.Dense(2)(layer(inputs)))
    randomise_initial_state(layer)
    path = tmp_path / "model.keras"
    model.save(path)
    revived = keras.models.load_model(path)
    assert type(revived.layers[1]) is preset
    x = sequences()
    np.testing.assert_array_equal(numpy(revived(x)), numpy(model(x)))


def test_presets_are_importable_from_the_package():
    for preset in PRESETS:
        assert getattr(keras3, preset.__name__) is preset


# --- bad input -------------------------------------------------------------------

@pytest.mark.parametrize("layer_class", [NoisyStateGRU, NoisyStateLSTM])
@pytest.mark.parametrize("kwargs, argument", BAD_LAYER_ARGUMENTS)
def test_bad_arguments_name_the_layer_and_the_argument(layer_class, kwargs,
                                                       argument):
    kwargs = {"units": 8, **kwargs}
    with pytest.raises(ValueError, match=rf"'encoder'.*`{argument}`"):
        layer_class(name="encoder", **kwargs)


def test_bad_arguments_read_as_the_tf_keras_layers_do():
    """The same message, word for word, as `noisy_rnn.layers`' (both come
    from `noisy_rnn.layer_arguments`)."""
    with pytest.raises(ValueError) as raised:
        NoisyGRU(8, noise_std_init=-1.0, name="encoder")
    assert str(raised.value) == ("NoisyGRU 'encoder': argument `noise_std` "
                                 "must be a finite float >= 0, got -1.0")
    with pytest.raises(ValueError, match=r"StdPriorRegularizer.*`strength`"):
        StdPriorRegularizer(0.1, -1.0)


@pytest.mark.parametrize("shape, dtype, problem", [
    ((4, 3), "float32", "rank 3"),
    ((4, 5, 3, 2), "float32", "rank 3"),
    ((4, 5, 3), "int32", "float"),
])
def test_bad_inputs_name_the_layer_and_the_argument(shape, dtype, problem):
    layer = NoisyGRU(8, name="encoder")
    with pytest.raises(ValueError, match=rf"'encoder'.*`inputs`.*{problem}"):
        layer(np.zeros(shape, dtype))
