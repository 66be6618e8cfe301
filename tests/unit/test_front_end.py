"""The long-sequence front-end: padded steps never leak in, the whole model
gives a padded sequence and its unpadded twin the same output, and the
factor follows the lengths."""

import numpy as np
import pytest
import tf_keras
from repo_files import padded_batch

from noisy_rnn.pipeline.config import ModelConfig
from noisy_rnn.pipeline.trainer import front_end
from noisy_rnn.pipeline.trainer.architecture import build_model
from noisy_rnn.pipeline.trainer.front_end import MaskedDownsampling


def test_downsampling_keeps_padding_out():
    layer = MaskedDownsampling(6, factor=4)
    lengths = [23, 9, 1]
    values, mask = padded_batch(lengths, time=23)
    hidden, new_mask = layer(values, mask)
    assert hidden.shape == (3, 6, 6)  # ceil(23 / 4) windows
    assert new_mask.numpy().sum(axis=1).tolist() == [
        front_end.downsampled_length(n, 4) for n in lengths]
    longer, longer_mask = padded_batch(lengths, time=40)
    longer[~longer_mask] = 99.0  # garbage where steps do not exist
    longer_hidden, longer_new_mask = layer(longer, longer_mask)
    for row, length in enumerate(lengths):
        kept = front_end.downsampled_length(length, 4)
        alone, _ = layer(values[row:row + 1, :length],
                         mask[row:row + 1, :length])
        for other in (hidden[row], longer_hidden[row]):
            np.testing.assert_allclose(other[:kept], alone[0], atol=1e-6)
        assert not longer_hidden[row, kept:].numpy().any()
        assert longer_new_mask[row].numpy().sum() == kept


@pytest.mark.parametrize("noise", ["none", "additive"])
def test_model_with_front_end_gives_padded_twins_one_output(noise):
    """Inference (noise-free, deterministic) through front-end, noisy GRU
    and conv branch: each sequence padded in a batch = the sequence
    alone."""
    model = build_model(ModelConfig(units=8, conv_filters=4, noise=noise,
                                    downsample=5), 2, 3)
    assert model.get_layer("downsampling").factor == 5
    lengths = [37, 12, 3]
    values, mask = padded_batch(lengths, time=50, channels=2)
    values[~mask] = -7.0
    batched = model({"values": values, "mask": mask}, training=False)
    again = model({"values": values, "mask": mask}, training=False)
    np.testing.assert_array_equal(batched, again)
    for row, length in enumerate(lengths):
        alone = model({"values": values[row:row + 1, :length],
                       "mask": mask[row:row + 1, :length]}, training=False)
        np.testing.assert_allclose(batched[row:row + 1], alone, atol=1e-5)


def test_factor_follows_the_lengths():
    assert front_end.choose_downsampling([7, 29, 15, 20]) == 1
    assert front_end.choose_downsampling([100] * 19 + [5000]) == 1  # p90
    assert front_end.choose_downsampling(range(300, 1301)) == 12
    assert front_end.choose_downsampling([1460] * 20) == 15
    with pytest.raises(ValueError, match="no training examples"):
        front_end.choose_downsampling([])


def test_factor_one_is_refused_by_the_layer_and_means_no_front_end():
    with pytest.raises(ValueError, match="factor must be >= 2"):
        MaskedDownsampling(4, factor=1)
    model = build_model(ModelConfig(units=4, downsample=1), 2, 2)
    assert not [layer for layer in model.layers
                if isinstance(layer, MaskedDownsampling)]


def test_a_sequence_shorter_than_the_factor_keeps_one_step():
    layer = MaskedDownsampling(3, factor=8)
    values, mask = padded_batch([2], time=2)
    hidden, new_mask = layer(values, mask)
    assert hidden.shape == (1, 1, 3) and new_mask.numpy().tolist() == [[True]]


def test_serialises():
    layer = MaskedDownsampling(5, factor=3, name="d")
    clone = MaskedDownsampling.from_config(layer.get_config())
    assert (clone.filters, clone.factor, clone.name) == (5, 3, "d")
    assert tf_keras.utils.get_registered_name(MaskedDownsampling) == \
        "noisy_rnn>MaskedDownsampling"
