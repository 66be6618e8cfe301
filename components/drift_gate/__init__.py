"""DriftGate: stops the run when the new data drifted from the data the
served model was trained on (per feature, TFDV distances)."""

from noisy_rnn.components.drift_gate.component import (DriftFound, DriftGate,
                                                       DriftReport)

__all__ = ["DriftFound", "DriftGate", "DriftReport"]
