"""The layers are drop-ins for the stock GRU/LSTM: every input kind the
stock layer takes gives the same output shapes, and the user's own argument
objects (initializers, regularizers, constraints) are the ones the cell
uses, including ones Keras cannot serialise."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from test_layers import PRESETS  # the six presets, as the layer tests use


def stock_of(preset):
    return (tf_keras.layers.LSTM if issubclass(preset, tf_keras.layers.LSTM)
            else tf_keras.layers.GRU)


def _values(seed=0):
    return np.random.default_rng(seed).normal(size=(2, 5, 3))


INPUTS = {
    "numpy float32": lambda: _values().astype("float32"),
    "numpy float64": lambda: _values(),
    "tensor": lambda: tf.constant(_values(), tf.float32),
    "tensor float16": lambda: tf.constant(_values(), tf.float16),
    "ragged": lambda: tf.ragged.constant(
        [_values()[0, :5].tolist(), _values()[1, :2].tolist()],
        ragged_rank=1, dtype=tf.float32),
}


def _shapes(outputs):
    return [tuple(o.shape) for o in tf.nest.flatten(outputs)]


@pytest.mark.parametrize("kind", sorted(INPUTS))
@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.__name__)
def test_every_input_kind_gives_the_stock_output_shapes(preset, kind):
    options = {"return_sequences": True, "return_state": True}
    for training in (False, True):
        ours = preset(4, **options)(INPUTS[kind](), training=training)
        stock = stock_of(preset)(4, **options)(INPUTS[kind](),
                                               training=training)
        assert _shapes(ours) == _shapes(stock), (kind, training)


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.__name__)
def test_masked_input_gives_the_stock_output_shapes(preset):
    x = _values().astype("float32")
    x[1, 3:] = 0.0
    masked = tf_keras.layers.Masking(0.0)
    mask = masked.compute_mask(x)
    for training in (False, True):
        ours = preset(4, return_sequences=True)(
            masked(x), mask=mask, training=training)
        stock = stock_of(preset)(4, return_sequences=True)(
            masked(x), mask=mask, training=training)
        assert ours.shape == stock.shape == (2, 5, 4)


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.__name__)
def test_a_python_list_fails_or_passes_as_with_the_stock_layer(preset):
    nested = _values().astype("float32").tolist()
    outcomes = []
    for layer in (preset(4), stock_of(preset)(4)):
        try:
            outcomes.append(("ok", tuple(layer(nested).shape)))
        except Exception as error:  # pylint: disable=broad-except
            outcomes.append((type(error).__name__, None))
    assert outcomes[0] == outcomes[1]


class _NoConfigRegularizer(tf_keras.regularizers.Regularizer):
    """A user regularizer without get_config (fine for the stock layer)."""

    def __call__(self, weights):
        return 1e-3 * tf.reduce_sum(tf.square(weights))


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.__name__)
def test_the_cell_uses_the_users_own_argument_objects(preset):
    objects = {
        "kernel_initializer": tf_keras.initializers.Constant(0.1),
        "recurrent_initializer": tf_keras.initializers.Orthogonal(seed=1),
        "bias_initializer": tf_keras.initializers.Zeros(),
        "kernel_regularizer": tf_keras.regularizers.L2(1e-4),
        "recurrent_regularizer": _NoConfigRegularizer(),
        "bias_regularizer": tf_keras.regularizers.L1(1e-5),
        "kernel_constraint": tf_keras.constraints.MaxNorm(2.0),
        "recurrent_constraint": tf_keras.constraints.UnitNorm(),
        "bias_constraint": tf_keras.constraints.NonNeg(),
    }
    layer = preset(4, **objects)
    for name, given in objects.items():
        assert getattr(layer.cell, name) is given, name
    layer(_values().astype("float32"), training=True)
    assert len(layer.losses) >= 3  # the three regularizers, ours included


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.__name__)
def test_a_lambda_initializer_works_as_with_the_stock_layer(preset):
    def ones(shape, dtype=None):
        return tf.ones(shape, dtype)

    layer = preset(4, kernel_initializer=lambda shape, dtype=None:
                   ones(shape, dtype))
    layer(_values().astype("float32"))
    np.testing.assert_array_equal(layer.cell.kernel.numpy(), 1.0)


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.__name__)
def test_config_still_round_trips(preset):
    layer = preset(4, kernel_regularizer=tf_keras.regularizers.L2(1e-4),
                   dropout=0.1, return_sequences=True, name="rt")
    config = layer.get_config()
    again = type(layer).from_config(config)
    assert again.get_config() == config
    assert type(again.cell) is type(layer.cell)


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.__name__)
def test_integer_inputs_are_refused_by_name(preset):
    with pytest.raises(ValueError, match=rf"{preset.__name__} '.*': argument "
                                         r"`inputs` must be a float tensor, "
                                         r"got dtype int64"):
        preset(4)(np.zeros((2, 5, 3), "int64"))
