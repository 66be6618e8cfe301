"""The Evaluator's Keras metrics, minus AutoGraph.

TFMA calls a Keras metric's ``update_state`` eagerly, and Keras converts it
(and the metric function under it) with AutoGraph on first call: seconds of
source transformation per Evaluator run for straight-line TF code. These
subclasses are the stock metrics with conversion turned off; TFMA loads
them by module (``MetricConfig(module=
"noisy_rnn.pipeline.trainer.metrics")``) and reports
them under the stock names (``sparse_categorical_accuracy``, ...).
"""

import tensorflow as tf
import tf_keras


def _without_autograph(base):
    """``base`` with an ``update_state`` that AutoGraph leaves alone."""
    class Metric(base):  # pylint: disable=missing-class-docstring
        @tf.autograph.experimental.do_not_convert
        def update_state(self, *args, **kwargs):
            return super().update_state(*args, **kwargs)

    Metric.__name__ = Metric.__qualname__ = base.__name__
    Metric.__doc__ = f"`tf_keras.metrics.{base.__name__}`, not converted."
    return Metric


SparseCategoricalAccuracy = _without_autograph(
    tf_keras.metrics.SparseCategoricalAccuracy)
MeanAbsoluteError = _without_autograph(tf_keras.metrics.MeanAbsoluteError)
RootMeanSquaredError = _without_autograph(
    tf_keras.metrics.RootMeanSquaredError)
