"""`Tuner`: TFX's own component (same spec, inputs and outputs, so the
Trainer's ``hyperparameters`` input and every orchestrator take it as
they take TFX's), run by `executor.Executor`."""

from tfx.components.tuner import component as tfx_tuner
from tfx.dsl.components.base import executor_spec

from noisy_rnn.components.noise_tuner import executor


class Tuner(tfx_tuner.Tuner):
    """TFX's Tuner; its executor also writes ``tuning.json`` (every trial's
    runs, the chosen one and why) and ``progress.json`` into the
    ``tuner_results`` artifact. Its ``tuner_fn`` must return a tuner with
    ``summary()`` (`noisy_rnn.pipeline.trainer.tuning.NoiseTuner`)."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)
