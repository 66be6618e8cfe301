"""A bank of fixed random dilated convolutions with PPV pooling (the
MiniRocket recipe, Dempster et al. 2021), masked for padded batches.

The features of the linear path beside the recurrent layers
(`noisy_rnn.pipeline.trainer.linear_paths.RocketRidge`): about 10,000,
each the proportion of a sequence's steps where one dilated length-9
kernel's output exceeds a bias.
Nothing here is trained: the kernels are MiniRocket's 84 fixed patterns
(weights -1, three of them 2), the dilations follow the training lengths,
each kernel sums a random subset of channels, and the biases are quantiles
of the kernels' outputs on random training sequences. All of it is chosen
once by `fit_minirocket` (seeded) and kept as non-trainable weights: the
exported model holds them as constants, deterministic, with no random op.

Padded steps never count: values are zeroed beyond each sequence's end (so a
``same``-padded kernel sees exactly the zeros an unpadded sequence would),
and each feature averages over that sequence's own steps only. Half the
kernels use the ``same`` output (every step), the other half only the steps
whose whole receptive field lies inside the sequence (MiniRocket's
alternating padding); a sequence too short for the latter falls back to the
former. Long sequences are counted at every k-th step from their first
(`choose_stride`). A padded sequence and its unpadded twin give the same
features.
"""

import itertools
import math

import numpy as np
import tensorflow as tf
import tf_keras

KERNEL_LENGTH = 9
# The 84 kernels: the indices of the three weights that are 2 (the rest -1).
KERNEL_INDICES = np.array(list(itertools.combinations(range(KERNEL_LENGTH),
                                                      3)), dtype=np.int64)
NUM_KERNELS = len(KERNEL_INDICES)
DEFAULT_FEATURES = 10_000
MAX_DILATIONS_PER_KERNEL = 32
# Steps at which PPV is counted, at most: beyond, every stride-th step
# (the proportion is estimated from a regular sample of the steps). Cost
# per sequence is steps x features comparisons, so this bounds serving
# latency for long sequences; chosen for latency. Its price, measured
# after (ridge test accuracy, all steps vs 128 at most; batch-64 latency):
# ArrowHead 0.857 vs 0.869, 164 vs 108 ms; OSULeaf 0.955 vs 0.946, 329 vs
# 73 ms; GunPoint 0.993 both, 99 vs 63 ms; ACSF1 0.91 vs 0.88.
MAX_POSITIONS = 128
# ... unless that leaves fewer than this share of the steps: the serving
# latency budgets grow in proportion to the length beyond 100 steps, so a
# long sequence can afford more positions. Measured (seed 0, stride before
# -> after, test accuracy; batch-64 p50 latency against its budget):
# ACSF1 (1,460 steps) 12 -> 2, 0.870 -> 0.900, 618 of 876 ms; OSULeaf (427)
# 4 -> 3, 0.950 -> 0.959, 124 of 256 ms.
MIN_POSITION_SHARE = 0.5
# The dilations are chosen for the longest training sequence, as MiniRocket
# chooses them for the length its series are padded to (shorter ones see
# zeros past their end). Measured on JapaneseVowels (7-29 steps), ridge
# leave-one-out accuracy: median length 0.926, 90th percentile 0.941,
# longest 0.959.
LENGTH_PERCENTILE = 100
_GOLDEN = (math.sqrt(5) + 1) / 2


def kernel_weights():
    """``[KERNEL_LENGTH, NUM_KERNELS]``: -1 everywhere, 2 at each kernel's
    three indices."""
    weights = -np.ones((KERNEL_LENGTH, NUM_KERNELS), np.float32)
    for kernel, indices in enumerate(KERNEL_INDICES):
        weights[indices, kernel] = 2.0
    return weights


def choose_dilations(length, num_features=DEFAULT_FEATURES):
    """MiniRocket's dilations for sequences of ``length`` steps: up to 32,
    spaced exponentially from 1 to ``(length - 1) / 8`` (the receptive
    field spans the sequence), with the number of biases (features per
    kernel) for each. Returns ``(dilations, biases_per_dilation)``."""
    per_kernel = max(1, num_features // NUM_KERNELS)
    max_dilations = min(per_kernel, MAX_DILATIONS_PER_KERNEL)
    exponent = math.log2(max(length - 1, 1) / (KERNEL_LENGTH - 1))
    exponent = max(exponent, 0.0)
    dilations, counts = np.unique(
        np.floor(np.logspace(0, exponent, max_dilations, base=2)).astype(
            np.int64), return_counts=True)
    counts = (counts * (per_kernel / max_dilations)).astype(np.int64)
    remainder = per_kernel - counts.sum()
    index = 0
    while remainder > 0:
        counts[index] += 1
        remainder -= 1
        index = (index + 1) % len(counts)
    return dilations.tolist(), counts.tolist()


def _convolve(values, kernel, dilation, stride=1):
    """``same`` dilated convolution of zero-padded ``values [batch, steps,
    channels]`` with ``kernel [9, channels, kernels]``, at every
    ``stride``-th step from the first: ``[batch, ceil(steps / stride),
    kernels]``. (Computed as one matmul over the nine taps: TensorFlow's
    convolution has no stride with a dilation.)"""
    if stride == 1:
        return tf.nn.conv1d(values, kernel, stride=1, padding="SAME",
                            dilations=dilation)
    reach = (KERNEL_LENGTH // 2) * dilation
    steps = tf.shape(values)[1]
    padded = tf.pad(values, [[0, 0], [reach, reach + stride], [0, 0]])
    positions = (steps + stride - 1) // stride
    taps = tf.stack([padded[:, j * dilation:
                            j * dilation + positions * stride:stride]
                     for j in range(KERNEL_LENGTH)], axis=2)
    return tf.einsum("bptc,tck->bpk", taps, kernel)


def _count_true(flags, dtype):
    """The number of True ``flags`` along the last axis, as ``dtype``,
    summed as bytes (exact; a quarter of the memory traffic of summing
    floats): at once below 256 positions, else in slices of 255. A
    9,996-feature bank on a 2-core CPU, summing floats -> bytes: 160
    sequences of 7-26 steps 32 -> 20 ms, 64 of 251 steps (stride 2) 57 ->
    45 ms, 64 of 1,460 steps (stride 2) 398 -> 331 ms."""
    positions = tf.shape(flags)[-1]

    def sliced():
        slices = (positions + 254) // 255
        padded = tf.pad(flags, [[0, 0]] * (len(flags.shape) - 1) +
                        [[0, slices * 255 - positions]])
        return tf.reduce_sum(tf.cast(tf.reduce_sum(tf.cast(tf.reshape(
            padded, tf.concat([tf.shape(flags)[:-1], [slices, 255]], 0)),
            tf.uint8), axis=-1), dtype), axis=-1)
    return tf.cond(positions < 256, lambda: tf.cast(tf.reduce_sum(
        tf.cast(flags, tf.uint8), axis=-1), dtype), sliced)


def choose_stride(length, max_positions=None):
    """Every how many steps the bank's outputs are pooled, for sequences of
    up to ``length`` steps: 1, or enough to leave ``MAX_POSITIONS`` or
    `MIN_POSITION_SHARE` of the steps, whichever is more."""
    max_positions = max(max_positions or MAX_POSITIONS,
                        int(length * MIN_POSITION_SHARE))
    return max(1, math.ceil(length / max_positions))


def _channel_kernels(num_channels, rng):
    """``[9, channels, NUM_KERNELS]`` for one dilation: each kernel's weights
    on a random subset of channels (MiniRocket's multivariate choice: 1 to
    min(channels, 9) of them, small subsets more likely), 0 elsewhere."""
    weights = kernel_weights()
    kernel = np.zeros((KERNEL_LENGTH, num_channels, NUM_KERNELS), np.float32)
    most = math.log2(min(num_channels, KERNEL_LENGTH) + 1)
    for k in range(NUM_KERNELS):
        count = int(2 ** rng.uniform(0, most))
        count = min(max(count, 1), num_channels)
        channels = rng.choice(num_channels, count, replace=False)
        kernel[:, channels, k] = weights[:, k:k + 1]
    return kernel


def fit_minirocket(sequences, seed=0, num_features=DEFAULT_FEATURES,
                   differences=False):
    """The bank's constants from training ``sequences`` (a list of ``[steps,
    channels]`` float arrays, as the model sees them; with ``differences``,
    of their first differences): dilations from the longest one, kernels
    (channel subsets), paddings and biases (quantiles of each kernel's
    output on a random sequence). Returns the keyword arguments and weights
    of a `MaskedMiniRocket`."""
    if differences:
        sequences = [np.diff(s, axis=0) for s in sequences]
    sequences = [s for s in sequences if len(s)]
    if not sequences:
        raise ValueError("MiniRocket: no training sequences to fit on")
    rng = np.random.default_rng(seed)
    num_channels = sequences[0].shape[1]
    length = int(np.percentile([len(s) for s in sequences],
                               LENGTH_PERCENTILE))
    dilations, counts = choose_dilations(length, num_features)
    stride = choose_stride(length)
    quantiles = (np.arange(1, NUM_KERNELS * sum(counts) + 1) * _GOLDEN) % 1
    kernels, biases, start = [], [], 0
    for dilation, count in zip(dilations, counts):
        kernel = _channel_kernels(num_channels, rng)
        picks = rng.integers(len(sequences), size=NUM_KERNELS)
        # Kernel k's outputs on sequence picks[k] (row k, column k).
        values, _ = padded([sequences[pick] for pick in picks])
        outputs = _convolve(values, kernel, dilation, stride).numpy()
        bias = np.zeros((NUM_KERNELS, count), np.float32)
        for k, pick in enumerate(picks):
            own = math.ceil(len(sequences[pick]) / stride)
            q = quantiles[start:start + count]
            bias[k] = np.sort(np.quantile(outputs[k, :own, k], q))
            start += count
        kernels.append(kernel)
        biases.append(bias)
    return {"dilations": dilations, "biases_per_dilation": counts,
            "num_channels": num_channels, "stride": stride,
            "differences": differences}, {
                "kernels": kernels, "biases": biases}


def rocket_features(bank, sequences, batch_size=64):
    """The bank's features ``[len(sequences), bank.num_features]`` for a
    list of ``[steps, channels]`` arrays, in batches of similar lengths
    (little padding), returned in the given order."""
    order = np.argsort([len(s) for s in sequences], kind="stable")
    features = np.zeros((len(sequences), bank.num_features), np.float32)
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        values, mask = padded([sequences[r] for r in rows])
        features[rows] = bank(values, mask).numpy()
    return features


def padded(sequences):
    """``(values [batch, longest, channels], mask [batch, longest])`` of a
    list of ``[steps, channels]`` arrays."""
    longest = max(len(s) for s in sequences)
    values = np.zeros((len(sequences), longest, sequences[0].shape[1]),
                      np.float32)
    mask = np.zeros((len(sequences), longest), bool)
    for row, sequence in enumerate(sequences):
        values[row, :len(sequence)] = sequence
        mask[row, :len(sequence)] = True
    return values, mask


@tf_keras.saving.register_keras_serializable(package="noisy_rnn")
class MaskedMiniRocket(tf_keras.layers.Layer):
    """PPV features of fixed dilated convolutions (see module): call with
    ``(values [batch, steps, channels], mask [batch, steps])``, returns
    ``[batch, 84 * sum(biases_per_dilation)]`` in [0, 1].

    Args:
      dilations: one per kernel bank (see `choose_dilations`).
      biases_per_dilation: features per kernel at each dilation.
      num_channels: input channels.
      stride: PPV counted at every ``stride``-th step of each sequence
        (from its first; see `choose_stride`).
      differences: read each sequence's first differences (one step
        fewer) instead of its values, as MultiRocket's second
        representation (Tan et al. 2022).

    Its weights (kernels, biases) are non-trainable; set them with
    `set_constants` from `fit_minirocket`, or they load with the model.
    """

    def __init__(self, dilations, biases_per_dilation, num_channels,
                 stride=1, differences=False, **kwargs):
        kwargs.pop("trainable", None)
        super().__init__(trainable=False, **kwargs)
        self.stride = int(stride)
        self.differences = bool(differences)
        self.dilations = [int(d) for d in dilations]
        self.biases_per_dilation = [int(c) for c in biases_per_dilation]
        self.num_channels = int(num_channels)
        self.kernels = [self.add_weight(
            f"kernel_d{d}", (KERNEL_LENGTH, self.num_channels, NUM_KERNELS),
            initializer="zeros", trainable=False) for d in self.dilations]
        self.biases = [self.add_weight(
            f"bias_d{d}", (NUM_KERNELS, c), initializer="zeros",
            trainable=False)
            for d, c in zip(self.dilations, self.biases_per_dilation)]
        # Kernels alternate between all steps (True) and inside-only steps.
        self.all_steps = [
            np.arange(NUM_KERNELS) % 2 == i % 2
            for i in range(len(self.dilations))]

    @property
    def num_features(self):
        return NUM_KERNELS * sum(self.biases_per_dilation)

    def set_constants(self, kernels, biases):
        """Sets the bank's kernels and biases (from `fit_minirocket`)."""
        for weight, value in zip(self.kernels + self.biases,
                                 kernels + biases):
            weight.assign(value)

    # Plain TF ops: nothing here needs AutoGraph.
    @tf.autograph.experimental.do_not_convert
    def call(self, values, mask, training=None):
        del training
        mask = tf.cast(mask, tf.bool)
        values = values * tf.cast(mask, values.dtype)[..., None]
        if self.differences:  # step t - step t-1, where both exist
            values = values[:, 1:] - values[:, :-1]
            mask = mask[:, 1:]
            values = values * tf.cast(mask, values.dtype)[..., None]
        stride = self.stride
        lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)[:, None]
        # The steps counted: every stride-th from each sequence's first.
        steps = stride * tf.range((tf.shape(values)[1] + stride - 1) //
                                  stride)[None, :]
        exists = steps < lengths
        features = []
        for dilation, kernel, bias, all_steps in zip(
                self.dilations, self.kernels, self.biases, self.all_steps):
            output = _convolve(values, kernel, dilation, stride)
            reach = (KERNEL_LENGTH // 2) * dilation
            inside = tf.logical_and(steps >= reach, steps < lengths - reach)
            # Too short for any inside step: count every step instead.
            inside = tf.where(tf.reduce_any(inside, axis=1, keepdims=True),
                              inside, exists)
            region = tf.where(all_steps[None, None, :], exists[..., None],
                              inside[..., None])  # [batch, steps, kernels]
            # Steps outside the region never exceed a bias; then compare
            # [batch, kernels, 1, steps] with [kernels, biases, 1] and count
            # along the last (contiguous) axis: ~5x faster than counting
            # along the steps axis of [batch, steps, kernels, biases].
            counted = tf.transpose(tf.where(region, output, -np.inf),
                                   [0, 2, 1])[:, :, None, :]
            above = _count_true(counted > bias[:, :, None], values.dtype)
            total = tf.reduce_sum(tf.cast(region, values.dtype), axis=1)
            proportion = above / tf.maximum(total, 1.0)[..., None]
            features.append(tf.reshape(proportion,
                                       [-1, NUM_KERNELS * bias.shape[1]]))
        return tf.concat(features, axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], self.num_features)

    def get_config(self):
        return {**super().get_config(), "dilations": self.dilations,
                "biases_per_dilation": self.biases_per_dilation,
                "num_channels": self.num_channels, "stride": self.stride,
                "differences": self.differences}
