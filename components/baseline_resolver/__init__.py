"""Model resolution for the Evaluator's baseline and the Trainer's warm
start: the latest model that was pushed (blessed by both the Evaluator and
the ServingValidator)."""

from noisy_rnn.components.baseline_resolver.strategy import (
    LatestPushedBaselineStrategy, LatestPushedModelStrategy,
    LatestPushedStatisticsStrategy)

__all__ = ["LatestPushedBaselineStrategy", "LatestPushedModelStrategy",
           "LatestPushedStatisticsStrategy"]
