"""Training length chosen from the number of training examples: the
JapaneseVowels-tuned 600 steps where they give enough passes over the data,
more for large training sets, within bounds."""

import pytest

from noisy_rnn.pipeline.config import ModelConfig
from noisy_rnn.pipeline.trainer.data_defaults import choose_train_steps


@pytest.mark.parametrize("examples, batch, steps", [
    (31, 32, 600),       # small: the 600-step floor
    (225, 32, 600),      # JapaneseVowels: unchanged
    (1_109, 32, 1387),   # CO2: 40 passes
    (2_000, 32, 2500),
    (2_000, 64, 1250),
    (5_000, 32, 3000)])  # capped
def test_train_steps_give_forty_passes_within_bounds(examples, batch, steps):
    assert choose_train_steps(examples, batch) == steps


def test_zero_leaves_the_step_count_to_the_data_and_negatives_are_refused():
    ModelConfig(train_steps=0).validate()
    with pytest.raises(ValueError, match="--train-steps: must be >= 0"):
        ModelConfig(train_steps=-1).validate()
    with pytest.raises(ValueError, match="--batch-size: must be >= 1"):
        ModelConfig(batch_size=0).validate()
