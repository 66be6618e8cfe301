"""ServingValidator: a TFX component between Evaluator and Pusher that
proves the candidate serves as TF Serving would run it, without Docker."""

import json
from typing import Dict, List, Optional

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from noisy_rnn.components.serving_validator import executor
from noisy_rnn.schemas import contracts

DEFAULT_BUDGETS_MS = contracts.DEFAULT_LATENCY_BUDGETS_MS


class ServingValidatorSpec(types.ComponentSpec):
    """Inputs, parameters and output of `ServingValidator`."""

    PARAMETERS = {
        "features": ExecutionParameter(type=str),     # JSON list
        "model_name": ExecutionParameter(type=str),
        "budgets_ms": ExecutionParameter(type=str),   # JSON dict
        "repeats": ExecutionParameter(type=int),
        "tolerance": ExecutionParameter(type=float),
    }
    INPUTS = {
        "model": ChannelParameter(type=standard_artifacts.Model),
        "model_run": ChannelParameter(type=standard_artifacts.ModelRun,
                                      optional=True),
        "examples": ChannelParameter(type=standard_artifacts.Examples),
        "model_blessing": ChannelParameter(
            type=standard_artifacts.ModelBlessing, optional=True),
    }
    OUTPUTS = {
        "blessing": ChannelParameter(type=standard_artifacts.InfraBlessing),
    }


class ServingValidator(base_component.BaseComponent):
    """Blesses a model for TF Serving only if, loaded in a separate Python
    process that cannot import this project (TensorFlow only):

    - no serving signature's graph (function library included) has an op
      whose type contains ``Random``: training-time noise is gone;
    - repeated calls on real eval examples give bit-identical outputs, and
      ``serving_default`` and ``serving_sequences`` agree;
    - ``serving_default`` reproduces the Trainer's in-process outputs on
      eval examples (``model_run``'s ``serving_reference/``);
    - the TF Serving warmup requests it writes replay;
    - p50/p99 latency at batch 1 and 64 are within ``budgets_ms`` (for
      sequences of up to 100 steps; in proportion for longer ones).

    The blessed model is a copy of the candidate with TF Serving warmup
    records (``assets.extra/tf_serving_warmup_requests``, `PredictionLog` s
    built from real eval examples); the output `InfraBlessing` carries it,
    so give Pusher ``infra_blessing`` (and no ``model``) to push exactly what
    was validated. ``report.txt`` / ``report.json`` in the artifact say what
    was checked and measured. If ``model_blessing`` says the Evaluator did
    not bless the model, nothing is checked and it is not blessed.

    Example:

    ```python
    validator = ServingValidator(
        model=trainer.outputs["model"],
        model_run=trainer.outputs["model_run"],
        examples=example_gen.outputs["examples"],
        model_blessing=evaluator.outputs["blessing"],
        features=["c0", "c1"], model_name="my_model")
    pusher = Pusher(model_blessing=evaluator.outputs["blessing"],
                    infra_blessing=validator.outputs["blessing"], ...)
    ```
    """

    SPEC_CLASS = ServingValidatorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, model: types.BaseChannel,
                 examples: types.BaseChannel, features: List[str],
                 model_name: str,
                 model_run: Optional[types.BaseChannel] = None,
                 model_blessing: Optional[types.BaseChannel] = None,
                 budgets_ms: Optional[Dict[str, float]] = None,
                 repeats: int = 50, tolerance: float = 1e-5):
        """
        Args:
          model: the Trainer's `Model`.
          examples: `Examples` with an ``eval`` split (raw tf.Examples).
          features: the feature names, in the order of the model's channels.
          model_name: the name TF Serving serves the model under.
          model_run: the Trainer's `ModelRun` (holds its reference outputs).
          model_blessing: the Evaluator's blessing (skip work if refused).
          budgets_ms: latency budgets, keys ``p50_batch_1``, ``p99_batch_1``,
            ``p50_batch_64``, ``p99_batch_64``; default `DEFAULT_BUDGETS_MS`.
          repeats: timed calls per batch size.
          tolerance: max abs output difference allowed against the Trainer
            and between the two serving signatures.
        """
        budgets = dict(DEFAULT_BUDGETS_MS, **(budgets_ms or {}))
        unknown = sorted(set(budgets) - set(DEFAULT_BUDGETS_MS))
        if unknown:
            raise ValueError(f"ServingValidator budgets_ms: unknown key(s) "
                             f"{unknown}; known: {sorted(DEFAULT_BUDGETS_MS)}")
        super().__init__(spec=ServingValidatorSpec(
            model=model, model_run=model_run, examples=examples,
            model_blessing=model_blessing, features=json.dumps(features),
            model_name=model_name, budgets_ms=json.dumps(budgets),
            repeats=repeats, tolerance=tolerance,
            blessing=types.Channel(type=standard_artifacts.InfraBlessing)))
