"""SequenceExampleGen: long time-series CSV -> tf.Examples per sequence or
sliding window, split by a column or by time."""

from noisy_rnn.components.sequence_example_gen.component import \
    SequenceExampleGen

__all__ = ["SequenceExampleGen"]
