"""The linear path beside the noisy recurrent branch: a model fitted in
closed form on the training and validation sequences, whose output the
trained network corrects.

- Classification: `RocketRidge`, MiniRocket features
  (`noisy_rnn.pipeline.trainer.rocket`) and a ridge classifier on them,
  its penalty chosen by leave-one-out error (the MiniRocket recipe). No
  held-out slice is needed to fit it, so a small training set is used
  whole.
- Regression: `LinearAutoregressive`, a ridge linear map of each window's
  values to the target (LSTNet's "highway", Lai et al. 2018), its penalty
  chosen the same way: the recurrent branch models what a linear AR
  cannot. For a target per sequence (extrinsic regression), `RocketRidge`
  as a ridge regressor is the other candidate (`run_fn.regression_path`).

Both are fixed (non-trainable weights, constants of the SavedModel). The
network's logits or prediction are ``scale * linear + branch_scale *
head(branches)``, and training starts from the linear path alone (see
`noisy_rnn.pipeline.trainer.architecture.build_model`). The network
trains on *honest* linear outputs: the leave-one-out outputs of each
sequence the path was fitted on (what it says of a sequence it has not
seen), so the learned mix weighs the path by its real errors rather than
its fit of the training set.
"""

import dataclasses

import numpy as np
import tensorflow as tf
import tf_keras

from noisy_rnn.pipeline.trainer import paired, rocket

RIDGE_ALPHAS = np.logspace(-3, 3, 10)  # RidgeClassifierCV's, as MiniRocket
# Sequences the ridge is fitted on, at most (a random subset beyond: the
# dual solve costs examples^2 * features); the others get its predictions,
# which are out of sample for them.
RIDGE_MAX_EXAMPLES = 4096
# The AR's ridge penalties, from least squares to nearly none of the inputs
# (with ``forecast_change``, the change predicted as zero: persistence).
AR_ALPHAS = np.logspace(-4, 5, 19)


def ridge_leave_one_out(features, targets, alphas=RIDGE_ALPHAS):
    """Ridge regression from ``features [n, p]`` to ``targets [n, k]`` (an
    intercept, unpenalised), the penalty chosen from ``alphas`` by the
    summed leave-one-out squared error, computed exactly from the
    eigenvectors of the ``n x n`` kernel (from it when ``n <= p``, else
    from a thin SVD of the features). Returns ``(weights [p, k], intercept
    [k], alpha, leave_one_out [n, k])``."""
    x_mean, y_mean = features.mean(0), targets.mean(0)
    centred = (features - x_mean).astype(np.float64)
    y_centred = targets - y_mean
    if len(features) <= features.shape[1]:
        eigenvalues, eigenvectors = np.linalg.eigh(centred @ centred.T)
        eigenvalues = np.maximum(eigenvalues, 0.0)
    else:  # the kernel's other eigenvalues are 0: they add nothing
        eigenvectors, singular, _ = np.linalg.svd(centred,
                                                  full_matrices=False)
        eigenvalues = singular ** 2
    projected = eigenvectors.T @ y_centred
    best = None
    for alpha in alphas:
        shrink = eigenvalues / (eigenvalues + alpha)
        fitted = eigenvectors @ (shrink[:, None] * projected)
        leverage = (eigenvectors ** 2) @ shrink + 1.0 / len(features)
        leverage = np.minimum(leverage, 1.0 - 1e-9)  # one example: 1
        loo = y_centred - (y_centred - fitted) / (1.0 - leverage)[:, None]
        error = float(((y_centred - loo) ** 2).sum())
        if best is None or error < best[0]:
            best = (error, alpha, loo)
    _, alpha, loo = best
    dual = eigenvectors @ (projected / (eigenvalues + alpha)[:, None])
    weights = centred.T @ dual
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
    """Ridge scores ``[batch, classes]`` (a classifier's; with one output
    and regression targets, a regressor's prediction) on the standardised
    features of one or more `MaskedMiniRocket` banks (``banks``: their
    keyword arguments) of ``(values, mask)``; every weight fixed (set by
    `fit_rocket_ridge`)."""

    def __init__(self, num_classes, banks, **kwargs):
        kwargs.pop("trainable", None)
        super().__init__(trainable=False, **kwargs)
        self.num_classes = int(num_classes)
        self.banks = [rocket.MaskedMiniRocket(**options, name=f"bank{i}")
                      for i, options in enumerate(banks)]
        count = sum(bank.num_features for bank in self.banks)
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

    def features(self, sequences):
        """Raw bank features ``[n, features]`` of a list of ``[steps,
        channels]`` arrays (NumPy, in batches)."""
        return np.concatenate([rocket.rocket_features(bank, sequences)
                               for bank in self.banks], axis=1)

    def scores(self, features):
        """Ridge scores of raw bank ``features``."""
        standard = (features - self.feature_mean) / self.feature_scale
        return tf.matmul(standard, self.ridge_kernel) + self.ridge_bias

    @tf.autograph.experimental.do_not_convert
    def call(self, values, mask, training=None):
        del training
        return self.scores(tf.concat([bank(values, mask)
                                      for bank in self.banks], axis=-1))

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], self.num_classes)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "banks": [{k: v for k, v in bank.get_config().items()
                           if k in BANK_OPTIONS} for bank in self.banks]}


BANK_OPTIONS = ("dilations", "biases_per_dilation", "num_channels", "stride",
                "differences")


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
                     num_features=rocket.DEFAULT_FEATURES, differences=False,
                     regression=False):
    """A `RocketRidge` fitted on ``sequences`` (``[steps, channels]``
    arrays) with class ids ``labels`` (with ``regression``: the scaled
    targets, one output); ``offsets`` are leave-one-out scores for the
    sequences it was fitted on, predictions for the rest."""
    # Off by default: measured on the suite's eight datasets, the ridge's
    # leave-one-out accuracy on the training sequences moved by -0.003 to
    # +0.010 (mean +0.002) with half the features on the differences.
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    fit_rows = np.sort(rng.permutation(len(sequences))[:RIDGE_MAX_EXAMPLES])
    fit_sequences = [sequences[r] for r in fit_rows]
    # With ``differences``, half the features from the values, half from
    # their first differences (MultiRocket's two representations), when any
    # sequence has >= 2 steps.
    representations = [False] + (
        [True] if differences and max(len(s) for s in fit_sequences) > 1
        else [])
    fitted = [rocket.fit_minirocket(fit_sequences, seed + index,
                                    num_features // len(representations),
                                    on_differences)
              for index, on_differences in enumerate(representations)]
    layer = RocketRidge(num_classes, [options for options, _ in fitted],
                        name="rocket_ridge")
    for bank, (_, constants) in zip(layer.banks, fitted):
        bank.set_constants(**constants)
    features = layer.features(fit_sequences)
    mean, scale = features.mean(0), features.std(0)
    scale[scale == 0] = 1.0
    if regression:
        targets = labels[fit_rows].astype(np.float32)[:, None]
    else:
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
    # The rest in slices: their features at once would hold examples x
    # ~10,000 float32 (4 GB for 100,000 sequences).
    rest = np.setdiff1d(np.arange(len(sequences)), fit_rows)
    for start in range(0, rest.size, RIDGE_MAX_EXAMPLES):
        rows = rest[start:start + RIDGE_MAX_EXAMPLES]
        offsets[rows] = layer.scores(layer.features(
            [sequences[r] for r in rows])).numpy()
    if regression:
        fit_error = (f"leave-one-out scaled MAE "
                     f"{float(np.mean(np.abs(loo[:, 0] - targets[:, 0]))):.3g}")
        scale_factor = 1.0
    else:
        fit_error = (f"leave-one-out accuracy "
                     f"{float((loo.argmax(1) == labels[fit_rows]).mean()):.3f}")
        scale_factor = best_logit_scale(loo, labels[fit_rows])
    bank = layer.banks[0]
    choice = {
        "value": f"{features.shape[1]} features, ridge alpha {alpha:.3g}",
        "reason": f"MiniRocket dilations {bank.dilations[0]}-"
                  f"{bank.dilations[-1]} for sequences of up to "
                  f"{max(len(s) for s in fit_sequences)} steps, counted at "
                  f"every {bank.stride} step(s), on the values"
                  + (" and their differences" if len(layer.banks) > 1
                     else "") + "; "
                  f"ridge penalty by leave-one-out over {len(fit_rows)} "
                  f"training sequences ({fit_error})"}
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


def window_layer(sequences, name):
    """An unfitted `LinearAutoregressive` over the shortest sequence's
    length (the window) and every channel, and its inputs for
    ``sequences``: ``[n, lags * channels]``."""
    lags = min(len(s) for s in sequences)
    layer = LinearAutoregressive(lags, sequences[0].shape[1], name=name)
    values, mask = rocket.padded(sequences)
    inputs = tf.reshape(last_steps(values, mask, lags),
                        [len(sequences), -1]).numpy()
    return layer, inputs


def fit_least_squares_ar(sequences, targets):
    """A `LinearAutoregressive` fitted by ordinary least squares (an
    intercept, no penalty) from ``sequences`` (windows) to ``targets``:
    the classical linear AR a forecaster is compared with. OLS commutes
    with the per-channel affine scaling of Transform, and, given the level
    channel, with predicting the change from the last value (the weights
    on the lags are then free, not tied to sum to one), so fitted on the
    model's windows it is the AR of the raw series."""
    layer, inputs = window_layer(sequences, "least_squares_ar")
    inputs = inputs.astype(np.float64)
    design = np.hstack([inputs, np.ones((len(inputs), 1))])
    weights, *_ = np.linalg.lstsq(design, np.asarray(targets, np.float64),
                                  rcond=None)
    layer.ar_kernel.assign(weights[:-1, None].astype(np.float32))
    layer.ar_bias.assign(weights[-1:].astype(np.float32))
    return layer


def fit_autoregressive(sequences, targets, validation_count=0):
    """A `LinearAutoregressive` over the shortest sequence's length (the
    window), ridge regression from ``sequences`` (the training and
    validation windows: the latest ones matter most to a forecast) to their
    scaled ``targets``, its penalty chosen by leave-one-out error (valid for
    a linear AR's windows: Bergmeir et al. 2018); ``offsets`` are the
    leave-one-out predictions, as for `fit_rocket_ridge`.

    The last ``validation_count`` windows are the validation slice (the
    latest of each series). Leave-one-out treats windows as exchangeable;
    a series whose latest windows differ from the earlier ones (a growing
    seasonal swing) may want less shrinkage than it says. So the penalty it
    chose and least squares (the grid's smallest) are both fitted on the
    other windows and forecast the slice: least squares is kept when its
    squared errors are lower by more than one standard error
    (`paired.beats`), then refitted on all windows."""
    # Measured against choosing the penalty by forecasting the slice alone
    # (the lowest error wins): that chose nearly least squares on Airline
    # (model/AR 1.065 -> 1.025) and Lynx (0.66 -> 0.87, worse than
    # persistence: not pushed). With the one-SE rule Lynx, ShampooSales,
    # Uschange and CO2 keep the leave-one-out penalty.
    layer, inputs = window_layer(sequences, "autoregressive")
    lags, num_channels = layer.lags, layer.num_channels
    targets = np.asarray(targets, np.float32)
    weights, intercept, alpha, loo = ridge_leave_one_out(
        inputs, targets[:, None], AR_ALPHAS)
    rule = f"penalty by leave-one-out over {len(sequences)} training and " \
           f"validation windows"
    if least_squares_forecasts_better(inputs, targets, validation_count,
                                      alpha):
        weights, intercept, alpha, loo = ridge_leave_one_out(
            inputs, targets[:, None], AR_ALPHAS[:1])
        rule = (f"least squares: it forecast the {validation_count} "
                f"validation windows better than leave-one-out's penalty "
                f"by more than one standard error")
    layer.ar_kernel.assign(weights)
    layer.ar_bias.assign(intercept)
    error = float(np.mean(np.abs(loo[:, 0] - targets)))
    choice = {"value": f"AR({lags}) over {num_channels} channel(s), ridge "
                       f"alpha {alpha:.3g}",
              "reason": f"{rule} (scaled MAE {error:.3g}); the recurrent "
                        f"branch learns what it leaves"}
    return FittedPath(layer, loo, 1.0, choice)


def least_squares_forecasts_better(inputs, targets, validation_count,
                                   alpha):
    """Whether least squares (the smallest of `AR_ALPHAS`) fitted on the
    windows before the last ``validation_count`` forecasts those better
    than ridge with ``alpha`` fitted on the same windows, by `paired.beats`
    on their squared errors. False when ``alpha`` is least squares
    already, with fewer than two validation windows, or with no more
    earlier windows than the AR has weights."""
    fit = len(inputs) - validation_count
    if validation_count < 2 or fit <= inputs.shape[1] or \
            alpha == AR_ALPHAS[0]:
        return False
    errors = []
    for penalty in (alpha, AR_ALPHAS[0]):
        weights, intercept, _, _ = ridge_leave_one_out(
            inputs[:fit], targets[:fit, None], [penalty])
        forecast = inputs[fit:] @ weights[:, 0] + intercept[0]
        errors.append((forecast - targets[fit:]) ** 2)
    return paired.beats(*errors)
