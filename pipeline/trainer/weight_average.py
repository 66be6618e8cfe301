"""An exponential moving average of a model's weights, evaluated and kept
in place of the weights as trained."""

import contextlib

import tensorflow as tf


class WeightAverage:
    """An exponential moving average of a model's weights (``decay`` 0:
    none), updated after each training step, swapped into the model to
    evaluate it.

    Bias-corrected (as Adam's moments are): the averages start at zero and
    are divided by ``1 - decay**steps``, so they weigh only the weights
    training produced. Uncorrected, the starting weights would keep
    ``decay**steps`` of the average: 37 % after 100 steps at decay 0.99.
    """

    def __init__(self, model, decay):
        self.model, self.decay = model, decay
        self.averages = [tf.Variable(tf.zeros_like(w), trainable=False)
                         for w in model.weights] if decay else []
        self.steps = tf.Variable(0, dtype=tf.int64, trainable=False)

    def update(self):
        for average, weight in zip(self.averages, self.model.weights):
            average.assign(self.decay * average + (1 - self.decay) * weight)
        self.steps.assign_add(1)

    def weights(self):
        """The weights to evaluate and keep: the corrected averages, or the
        model's own when not averaging (or before the first update)."""
        steps = int(self.steps.numpy())
        if not self.averages or not steps:
            return self.model.get_weights()
        correction = 1.0 - self.decay ** steps
        return [(average.numpy() / correction).astype(average.dtype.name)
                for average in self.averages]

    @contextlib.contextmanager
    def swapped_in(self):
        """The model holds the averages inside the block, its own weights
        again after it."""
        if not self.averages:
            yield
            return
        live = self.model.get_weights()
        self.model.set_weights(self.weights())
        try:
            yield
        finally:
            self.model.set_weights(live)

