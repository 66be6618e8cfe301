"""Tuner: TFX's Tuner component with an executor that also records every
trial's runs and the choice (``tuning.json``) and shows its progress."""

from noisy_rnn.components.noise_tuner.component import Tuner

__all__ = ["Tuner"]
