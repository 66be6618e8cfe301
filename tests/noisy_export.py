"""A deliberately broken Trainer entry point for tests: it trains and
exports like `noisy_rnn.pipeline.trainer.run_fn`, but every `NoisyStateGRU` /
`NoisyStateLSTM` runs as if training, so the exported serving signatures
keep the noise on at inference. The ServingValidator must refuse it."""

from noisy_rnn import layers
from noisy_rnn.pipeline.trainer import run_fn as trainer


def _noise_always_on(layer_class):
    original = layer_class.call

    def call(self, inputs, mask=None, training=None, initial_state=None):
        return original(self, inputs, mask=mask, training=True,
                        initial_state=initial_state)
    return original, call


def run_fn(fn_args):
    """The Trainer's `run_fn` with the noise left on at inference."""
    patched = {}
    for layer_class in (layers.NoisyStateGRU, layers.NoisyStateLSTM):
        patched[layer_class], layer_class.call = _noise_always_on(layer_class)
    try:
        trainer.run_fn(fn_args)
    finally:
        for layer_class, original in patched.items():
            layer_class.call = original
