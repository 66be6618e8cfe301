"""Baseline model resolution for the Evaluator."""

from components.baseline_resolver.strategy import LatestBlessedBaselineStrategy

__all__ = ["LatestBlessedBaselineStrategy"]
