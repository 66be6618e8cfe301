"""AnomaliesGate: stops the pipeline when ExampleValidator found anomalies."""

from noisy_rnn.components.anomalies_gate.component import (AnomaliesFound,
                                                           AnomaliesGate,
                                                           describe_anomalies)

__all__ = ["AnomaliesFound", "AnomaliesGate", "describe_anomalies"]
