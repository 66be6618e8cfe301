"""The linear path beside the noisy recurrent branch: a model fitted in
closed form on the training sequences, whose output the trained network
corrects.

- Classification: `RocketRidge`, MiniRocket features
  (`noisy_rnn.pipeline.trainer.rocket`) and a ridge classifier on them,
  its penalty chosen by leave-one-out error over the training sequences
  (the MiniRocket recipe). No validation slice is needed to fit it, so a
  small training set is used whole.
- Regression: `LinearAutoregressive`, a least-squares linear map of each
  window's recent values to the target (LSTNet's "highway", Lai et al.
  2018): the recurrent branch models what a linear AR cannot.

Both are fixed (non-trainable weights, constants of the SavedModel). The
network learns a correction on top: its logits or prediction are ``scale *
linear + head(recurrent)``, the head starting at zero, so training starts
from the linear model. The network trains on *honest* linear outputs: for
sequences the ridge was fitted on, their leave-one-out scores (what the
ridge says of a sequence it has not seen), so the correction learns the
ridge's real errors rather than its fit of the training set.
"""

import dataclasses

import numpy as np
import tensorflow as tf
import tf_keras

from noisy_rnn.pipeline.trainer import rocket

RIDGE_ALPHAS = np.logspace(-3, 3, 10)  # RidgeClassifierCV's, as MiniRocket
# Sequences the ridge is fitted on, at most (a random subset beyond: the
# dual solve costs examples^2 * features); the others get its predictions,
# which are out of sample for them.
RIDGE_MAX_EXAMPLES = 4096
AR_PENALTY = 1e-6  # relative to the mean squared input: only for stability


def ridge_leave_one_out(features, targets, alphas=RIDGE_ALPHAS):
    """Ridge regression from ``features [n, p]`` to ``targets [n, k]`` (an
    intercept, unpenalised), the penalty chosen from ``alphas`` by the
    summed leave-one-out squared error, computed exactly in the dual
    (``n x n`` kernel). Returns ``(weights [p, k], intercept [k], alpha,
    leave_one_out [n, k])``."""
    x_mean, y_mean = features.mean(0), targets.mean(0)
    centred, y_centred = features - x_mean, targets - y_mean
    gram = centred.astype(np.float64) @ centred.T.astype(np.float64)
    eigenvalues, eigenvectors = np.linalg.eigh(gram)
    eigenvalues = np.maximum(eigenvalues, 0.0)
    projected = eigenvectors.T @ y_centred
    best = None
    for alpha in alphas:
        shrink = eigenvalues / (eigenvalues + alpha)
        fitted = eigenvectors @ (shrink[:, None] * projected)
        leverage = (eigenvectors ** 2) @ shrink + 1.0 / len(features)
        loo = y_centred - (y_centred - fitted) / (1.0 - leverage)[:, None]
        error = float(((y_centred - loo) ** 2).sum())
        if best is None or error < best[0]:
            best = (error, alpha, loo)
    _, alpha, loo = best
    dual = eigenvectors @ (projected / (eigenvalues + alpha)[:, None])
    weights = centred.T.astype(np.float64) @ dual
    intercept = y_mean - x_mean @ weights
    return (weights.astype(np.float32), intercept.astype(np.float32),
            float(alpha), (loo + y_mean).astype(np.float32))


def best_logit_scale(scores, labels):
    """The factor turning ridge ``scores`` into logits with the least
    cross-entropy on ``labels`` (a grid from 0.1 to 100)."""
    best = None
    for scale in np.logspace(-1, 2, 31):
        logits = scale * scores
        logits = logits - logits.max(1, keepdims=True)
        log_probs = logits - np.log(np.exp(logits).sum(1, keepdims=True))
        loss = -log_probs[np.arange(len(labels)), labels].mean()
        if best is None or loss < best[0]:
            best = (loss, scale)
    return float(best[1])


@tf_keras.saving.register_keras_serializable(package="noisy_rnn")
class RocketRidge(tf_keras.layers.Layer):
    """Ridge classifier scores ``[batch, classes]`` on standardised
    `MaskedMiniRocket` features of ``(values, mask)``; every weight fixed
    (set by `fit_rocket_ridge`)."""

    def __init__(self, num_classes, dilations, biases_per_dilation,
                 num_channels, stride=1, **kwargs):
        kwargs.pop("trainable", None)
        super().__init__(trainable=False, **kwargs)
        self.num_classes = int(num_classes)
        self.bank = rocket.MaskedMiniRocket(
            dilations, biases_per_dilation, num_channels, stride,
            name="bank")
        count = self.bank.num_features
        self.feature_mean = self.add_weight(
            "feature_mean", (count,), initializer="zeros", trainable=False)
        self.feature_scale = self.add_weight(
            "feature_scale", (count,), initializer="ones", trainable=False)
        self.ridge_kernel = self.add_weight(
            "ridge_kernel", (count, self.num_classes), initializer="zeros",
            trainable=False)
        self.ridge_bias = self.add_weight(
            "ridge_bias", (self.num_classes,), initializer="zeros",
            trainable=False)

    def scores(self, features):
        """Ridge scores of raw bank ``features``."""
        standard = (features - self.feature_mean) / self.feature_scale
        return tf.matmul(standard, self.ridge_kernel) + self.ridge_bias

    @tf.autograph.experimental.do_not_convert
    def call(self, values, mask, training=None):
        del training
        return self.scores(self.bank(values, mask))

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], self.num_classes)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "dilations": self.bank.dilations,
                "biases_per_dilation": self.bank.biases_per_dilation,
                "num_channels": self.bank.num_channels,
                "stride": self.bank.stride}


@dataclasses.dataclass
class FittedPath:
    """A fitted linear path: the layer, its honest outputs for every
    sequence it was given (in order), the initial logit scale, and what was
    chosen, for the run record."""

    layer: tf_keras.layers.Layer
    offsets: np.ndarray
    scale: float
    choice: dict


def fit_rocket_ridge(sequences, labels, num_classes, seed,
                     num_features=rocket.DEFAULT_FEATURES):
    """A `RocketRidge` fitted on ``sequences`` (``[steps, channels]``
    arrays) with class ids ``labels``; ``offsets`` are leave-one-out
    scores for the sequences it was fitted on, predictions for the rest."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    fit_rows = np.sort(rng.permutation(len(sequences))[:RIDGE_MAX_EXAMPLES])
    fit_sequences = [sequences[r] for r in fit_rows]
    options, constants = rocket.fit_minirocket(fit_sequences, seed,
                                               num_features)
    layer = RocketRidge(num_classes, **options, name="rocket_ridge")
    layer.bank.set_constants(**constants)
    features = rocket.rocket_features(layer.bank, fit_sequences)
    mean, scale = features.mean(0), features.std(0)
    scale[scale == 0] = 1.0
    targets = -np.ones((len(fit_rows), num_classes), np.float32)
    targets[np.arange(len(fit_rows)), labels[fit_rows]] = 1.0
    weights, intercept, alpha, loo = ridge_leave_one_out(
        (features - mean) / scale, targets)
    for weight, value in ((layer.feature_mean, mean),
                          (layer.feature_scale, scale),
                          (layer.ridge_kernel, weights),
                          (layer.ridge_bias, intercept)):
        weight.assign(value)
    offsets = np.zeros((len(sequences), num_classes), np.float32)
    offsets[fit_rows] = loo
    rest = np.setdiff1d(np.arange(len(sequences)), fit_rows)
    if rest.size:
        offsets[rest] = layer.scores(rocket.rocket_features(
            layer.bank, [sequences[r] for r in rest])).numpy()
    loo_accuracy = float((loo.argmax(1) == labels[fit_rows]).mean())
    scale_factor = best_logit_scale(loo, labels[fit_rows])
    choice = {
        "value": f"{layer.bank.num_features} features, ridge alpha "
                 f"{alpha:.3g}",
        "reason": f"MiniRocket dilations {layer.bank.dilations[0]}-"
                  f"{layer.bank.dilations[-1]} for sequences of up to "
                  f"{max(len(s) for s in fit_sequences)} steps, counted at "
                  f"every {layer.bank.stride} step(s); "
                  f"ridge penalty by leave-one-out over {len(fit_rows)} "
                  f"training sequences (leave-one-out accuracy "
                  f"{loo_accuracy:.3f})"}
    return FittedPath(layer, offsets, scale_factor, choice)


def last_steps(values, mask, lags):
    """Each sequence's last ``lags`` real steps ``[batch, lags, channels]``
    (zeros before a sequence shorter than ``lags`` begins)."""
    lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
    positions = lengths[:, None] - lags + tf.range(lags)[None, :]
    exists = positions >= 0
    taken = tf.gather(values, tf.maximum(positions, 0), batch_dims=1)
    return taken * tf.cast(exists, values.dtype)[..., None]


@tf_keras.saving.register_keras_serializable(package="noisy_rnn")
class LinearAutoregressive(tf_keras.layers.Layer):
    """A fixed linear map of each sequence's last ``lags`` real steps (all
    channels) to ``[batch, 1]`` (set by `fit_autoregressive`)."""

    def __init__(self, lags, num_channels, **kwargs):
        kwargs.pop("trainable", None)
        super().__init__(trainable=False, **kwargs)
        self.lags, self.num_channels = int(lags), int(num_channels)
        self.ar_kernel = self.add_weight(
            "ar_kernel", (self.lags * self.num_channels, 1),
            initializer="zeros", trainable=False)
        self.ar_bias = self.add_weight("ar_bias", (1,), initializer="zeros",
                                       trainable=False)

    @tf.autograph.experimental.do_not_convert
    def call(self, values, mask, training=None):
        del training
        recent = last_steps(values, mask, self.lags)
        flat = tf.reshape(recent, [-1, self.lags * self.num_channels])
        return tf.matmul(flat, self.ar_kernel) + self.ar_bias

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], 1)

    def get_config(self):
        return {**super().get_config(), "lags": self.lags,
                "num_channels": self.num_channels}


def fit_autoregressive(sequences, targets, fit_count):
    """A `LinearAutoregressive` over the shortest sequence's length (the
    window), least squares on the first ``fit_count`` of ``sequences``
    (the training ones) to their scaled ``targets``; ``offsets`` are its
    predictions for every sequence."""
    lags = min(len(s) for s in sequences)
    num_channels = sequences[0].shape[1]
    layer = LinearAutoregressive(lags, num_channels, name="autoregressive")
    values, mask = rocket.padded(sequences)
    inputs = tf.reshape(last_steps(values, mask, lags),
                        [len(sequences), -1]).numpy().astype(np.float64)
    fit = inputs[:fit_count]
    design = np.hstack([fit, np.ones((fit_count, 1))])
    penalty = AR_PENALTY * max(float((fit ** 2).mean()), 1e-12) * fit_count
    gram = design.T @ design + penalty * np.eye(design.shape[1])
    solution = np.linalg.solve(gram, design.T @ np.asarray(
        targets[:fit_count], np.float64))
    layer.ar_kernel.assign(solution[:-1, None].astype(np.float32))
    layer.ar_bias.assign(solution[-1:].astype(np.float32))
    offsets = layer(values, mask).numpy()
    choice = {"value": f"AR({lags}) over {num_channels} channel(s)",
              "reason": f"least squares on {fit_count} training windows; "
                        f"the recurrent branch learns what it leaves"}
    return FittedPath(layer, offsets, 1.0, choice)
