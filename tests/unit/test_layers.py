"""The noisy-state GRU/LSTM layers: noise semantics, initial state, masking,
Keras conventions and bad input."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from layer_cases import BAD_LAYER_ARGUMENTS

from noisy_rnn import layers
from noisy_rnn.layers import (NoisyGRU, NoisyLSTM, NoisyStateGRU,
                              NoisyStateGRUCell, NoisyStateLSTM,
                              NoisyStateLSTMCell, StdPriorRegularizer,
                              TrainableInitialStateAndConstantNoiseGRU,
                              TrainableInitialStateAndConstantNoiseLSTM,
                              TrainableInitialStateGRU,
                              TrainableInitialStateLSTM)

PRESETS = [TrainableInitialStateGRU, NoisyGRU,
           TrainableInitialStateAndConstantNoiseGRU, TrainableInitialStateLSTM,
           NoisyLSTM, TrainableInitialStateAndConstantNoiseLSTM]
NOISY_PRESETS = [NoisyGRU, TrainableInitialStateAndConstantNoiseGRU,
                 NoisyLSTM, TrainableInitialStateAndConstantNoiseLSTM]
STOCK = {"GRU": tf_keras.layers.GRU, "LSTM": tf_keras.layers.LSTM}


def kind_of(layer):
    return "LSTM" if isinstance(layer, tf_keras.layers.LSTM) else "GRU"


def sequences(batch=4, time=10, features=3, seed=0):
    return tf.random.stateless_normal((batch, time, features), seed=[seed, 1])


def stock_twin(layer, x, **kwargs):
    """A stock Keras layer of the same kind, built with ``layer``'s weights."""
    stock = STOCK[kind_of(layer)](layer.units, **kwargs)
    stock.build(x.shape)
    for target, source in zip(stock.cell.weights, layer.cell.weights):
        target.assign(source)
    return stock


def randomise_initial_state(layer):
    for vector in layer.cell.initial_state_vectors:
        vector.assign(tf.random.normal(vector.shape))


# --- noise only in training, on the carried state ---------------------------

@pytest.mark.parametrize("preset", PRESETS)
def test_two_inference_calls_are_bit_identical(preset):
    layer = preset(8, return_sequences=True)
    x = sequences()
    np.testing.assert_array_equal(layer(x), layer(x))
    np.testing.assert_array_equal(layer(x, training=False), layer(x))


@pytest.mark.parametrize("preset", NOISY_PRESETS)
def test_training_calls_differ_down_to_the_final_carried_state(preset):
    layer = preset(8, return_state=True)
    x = sequences()
    first, second = layer(x, training=True), layer(x, training=True)
    for a, b in zip(first, second):  # output, then every final state
        assert not np.allclose(a, b)


@pytest.mark.parametrize("preset", PRESETS)
def test_inference_equals_the_stock_layer_fed_the_initial_state(preset):
    layer = preset(8, return_sequences=True, return_state=True)
    x = sequences()
    layer(x)
    randomise_initial_state(layer)
    stock = stock_twin(layer, x, return_sequences=True, return_state=True)
    initial_state = [tf.tile(v[None], [4, 1])
                     for v in layer.cell.initial_state_vectors] or None
    for ours, theirs in zip(layer(x), stock(x, initial_state=initial_state)):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("noise", ["additive", "multiplicative"])
@pytest.mark.parametrize("layer_class", [NoisyStateGRU, NoisyStateLSTM])
def test_zero_std_training_matches_the_stock_layer(layer_class, noise):
    layer = layer_class(8, noise=noise, noise_std=0.0, return_sequences=True)
    x = sequences()
    layer(x)
    stock = stock_twin(layer, x, return_sequences=True)
    np.testing.assert_allclose(layer(x, training=True),
                               stock(x, training=True), atol=1e-6)


def test_noise_accumulates_through_the_carried_gru_state():
    """With the update gate held open (z ~ 1) a GRU copies its state forward,
    so noise on the *carried* state adds up (variance ~ t * std^2) while
    noise on outputs only would stay at std^2 at every step."""
    layer = NoisyStateGRU(16, noise="additive", noise_std=0.5,
                          return_sequences=True)
    x = tf.zeros((512, 20, 1))
    layer(x)
    bias = layer.cell.bias.numpy()
    bias[0, :16] = 20.0  # update gate input bias: z = sigmoid(20) ~ 1
    layer.cell.bias.assign(bias)
    outputs = layer(x, training=True).numpy()
    first, last = outputs[:, 0].var(), outputs[:, -1].var()
    assert first == pytest.approx(0.25, rel=0.15)
    assert last == pytest.approx(20 * 0.25, rel=0.15)


@pytest.mark.parametrize("noise_on_cell_state", [False, True])
def test_lstm_cell_state_noise_is_carried_only_when_asked(noise_on_cell_state):
    """Forget gate open, input gate shut: c is copied forward, so it only
    varies if its own carried noise is switched on."""
    layer = NoisyStateLSTM(16, noise="additive", noise_std=0.5,
                           noise_on_cell_state=noise_on_cell_state,
                           return_state=True)
    x = tf.zeros((512, 20, 1))
    layer(x)
    bias = layer.cell.bias.numpy()
    bias[:16], bias[16:32] = -20.0, 20.0  # input gate ~ 0, forget gate ~ 1
    layer.cell.bias.assign(bias)
    _, _, final_c = layer(x, training=True)
    if noise_on_cell_state:
        assert np.var(final_c) == pytest.approx(20 * 0.25, rel=0.15)
    else:
        assert np.var(final_c) < 1e-6


# --- masking -----------------------------------------------------------------

@pytest.mark.parametrize("preset", NOISY_PRESETS)
def test_masked_steps_keep_the_state_and_get_no_noise(preset):
    layer = preset(8, return_sequences=True, return_state=True)
    x = sequences(time=12)
    mask = tf.constant([[True] * 7 + [False] * 5] * 4)
    outputs, *final_states = layer(x, mask=mask, training=True)
    np.testing.assert_array_equal(final_states[0], outputs[:, 6])
    for step in range(7, 12):  # Keras repeats the kept output when masked
        np.testing.assert_array_equal(outputs[:, step], outputs[:, 6])


@pytest.mark.parametrize("preset", PRESETS)
def test_padded_and_masked_equals_the_unpadded_run(preset):
    inputs = tf_keras.Input((None, 3))
    outputs = preset(8)(tf_keras.layers.Masking(0.0)(inputs))
    model = tf_keras.Model(inputs, outputs)
    x = sequences(time=6)
    randomise_initial_state(model.layers[-1])
    padded = tf.concat([x, tf.zeros((4, 5, 3))], axis=1)
    np.testing.assert_allclose(model(padded), model(x), atol=1e-6)


# --- trainable initial state and std: gradients -------------------------------

@pytest.mark.parametrize("preset", NOISY_PRESETS)
def test_gradients_reach_the_initial_state_and_the_std(preset):
    layer = preset(8)
    x = sequences()
    layer(x)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(layer(x, training=True)))
    trained = [w for w in layer.trainable_weights
               if "initial_state" in w.name or "raw_std" in w.name]
    assert trained, "preset trains neither initial state nor std"
    for weight, grad in zip(trained, tape.gradient(loss, trained)):
        assert grad is not None and float(tf.reduce_max(tf.abs(grad))) > 0, \
            weight.name


def test_explicit_initial_state_wins_over_the_trainable_one():
    layer = TrainableInitialStateGRU(8)
    x = sequences()
    layer(x)
    randomise_initial_state(layer)
    given = [tf.random.normal((4, 8))]
    stock = stock_twin(layer, x)
    np.testing.assert_array_equal(layer(x, initial_state=given),
                                  stock(x, initial_state=given))


# --- Keras conventions ---------------------------------------------------------

@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("preset", PRESETS)
def test_return_sequences_and_return_state_shapes(preset, training):
    x = sequences()
    outputs, *states = preset(8, return_sequences=True, return_state=True)(
        x, training=training)
    assert outputs.shape == (4, 10, 8)
    assert len(states) == (2 if kind_of(preset(1)) == "LSTM" else 1)
    assert all(s.shape == (4, 8) for s in states)


@pytest.mark.parametrize("training", [False, True])
def test_stacked_and_bidirectional_with_unknown_time_in_tf_function(training):
    inputs = tf_keras.Input((None, 3))
    hidden = NoisyGRU(8, return_sequences=True)(inputs)
    hidden = tf_keras.layers.Bidirectional(
        TrainableInitialStateAndConstantNoiseLSTM(4))(hidden)
    model = tf_keras.Model(inputs, tf_keras.layers.Dense(2)(hidden))

    @tf.function(input_signature=[tf.TensorSpec([None, None, 3])])
    def run(x):
        return model(x, training=training)

    ops = op_types(run.get_concrete_function())
    assert ops & {"While", "StatelessWhile"}  # a graph loop, not Python's
    for time_steps in (5, 9):
        assert run(sequences(time=time_steps)).shape == (4, 2)
    backward = model.layers[2].backward_layer
    assert type(backward) is TrainableInitialStateAndConstantNoiseLSTM
    assert backward.go_backwards and backward.initial_state_mode == "trainable"


def op_types(concrete_function):
    """Types of all ops of a traced function, its function library included."""
    graph_def = concrete_function.graph.as_graph_def()
    return ({node.op for node in graph_def.node} |
            {node.op for fn in graph_def.library.function
             for node in fn.node_def})


def _function_attrs(concrete_function):
    graph_def = concrete_function.graph.as_graph_def()
    return {fn.attr["api_implements"].s.decode()
            for fn in graph_def.library.function
            if "api_implements" in fn.attr}


@pytest.mark.parametrize("preset", PRESETS)
def test_inference_runs_the_stock_fused_kernel(preset):
    layer = preset(8)
    fn = tf.function(lambda x: layer(x, training=False))
    implements = _function_attrs(fn.get_concrete_function(
        tf.TensorSpec([None, None, 3])))
    assert any(name.startswith(kind_of(layer).lower() + "_")
               for name in implements), implements


@pytest.mark.parametrize("preset", PRESETS)
def test_config_round_trips_every_argument(preset):
    layer = preset(8, return_sequences=True, dropout=0.1, go_backwards=True,
                   noise_std_regularizer=StdPriorRegularizer(0.2, 0.5),
                   name="encoder")
    config = layer.get_config()
    clone = preset.from_config(config)
    assert type(clone) is preset
    assert clone.get_config() == config
    revived = tf_keras.layers.deserialize(tf_keras.layers.serialize(layer))
    assert type(revived) is preset and revived.get_config() == config


@pytest.mark.parametrize("cell_class", [NoisyStateGRUCell, NoisyStateLSTMCell])
def test_cells_work_in_a_plain_rnn_and_round_trip(cell_class):
    cell = cell_class(8, initial_state_mode="trainable",
                      noise="multiplicative", noise_std=0.2)
    rnn = tf_keras.layers.RNN(cell, return_state=True)
    x = sequences()
    np.testing.assert_array_equal(rnn(x)[0], rnn(x)[0])
    assert not np.allclose(rnn(x, training=True)[1],
                           rnn(x, training=True)[1])
    clone = cell_class.from_config(cell.get_config())
    assert clone.get_config() == cell.get_config()


def test_presets_are_importable_from_the_package():
    for preset in PRESETS:
        assert getattr(layers, preset.__name__) is preset


# --- bad input -------------------------------------------------------------------

@pytest.mark.parametrize("layer_class", [NoisyStateGRU, NoisyStateLSTM])
@pytest.mark.parametrize("kwargs, argument", BAD_LAYER_ARGUMENTS)
def test_bad_arguments_name_the_layer_and_the_argument(layer_class, kwargs,
                                                       argument):
    kwargs = {"units": 8, **kwargs}
    with pytest.raises(ValueError, match=rf"'encoder'.*`{argument}`"):
        layer_class(name="encoder", **kwargs)


@pytest.mark.parametrize("preset", [NoisyGRU, TrainableInitialStateLSTM])
def test_preset_arguments_are_checked_too(preset):
    with pytest.raises(ValueError, match=r"NoisyGRU.*`noise_std`"
                       if preset is NoisyGRU else r"`units`"):
        preset(8, noise_std_init=-1.0) if preset is NoisyGRU else preset(0)


@pytest.mark.parametrize("x, problem", [
    (tf.zeros((4, 3)), "rank 3"),
    (tf.zeros((4, 5, 3, 2)), "rank 3"),
    (tf.zeros((4, 5, 3), tf.int32), "float"),
])
def test_bad_inputs_name_the_layer_and_the_argument(x, problem):
    layer = NoisyGRU(8, name="encoder")
    with pytest.raises(ValueError, match=rf"'encoder'.*`inputs`.*{problem}"):
        layer(x)
