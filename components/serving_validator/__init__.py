"""ServingValidator: clean-process serving checks (no random op,
deterministic, matches the Trainer, warmup replays, latency budgets) and TF
Serving warmup records, as an `InfraBlessing` Pusher accepts."""

from noisy_rnn.components.serving_validator.component import (
    DEFAULT_BUDGETS_MS, ServingValidator)

__all__ = ["DEFAULT_BUDGETS_MS", "ServingValidator"]
