"""Training progress for whoever watches the run: the current step, the
total, the latest eval round and the learned noise stds.

The training loop writes ``progress.json`` into the Trainer's ``model_run``
folder (`TrainingProgress`); the local runner's progress monitor reads it
to show "step N of M" and the latest validation metric while the Trainer,
which can run for minutes, would otherwise show no sign of life. A file,
not a callback: it works the same when the Trainer runs in another process.
Only written to local folders (a remote ``model_run``, e.g. on GCS, has no
local watcher, and a write per second there would cost requests).
"""

import json
import os
import time

from noisy_rnn.layers.noise import CarriedStateNoise
from noisy_rnn.schemas import contracts

NOISE_STD_PREFIX = "noise_std_"  # history keys: noise_std_<layer name>


def noise_stds(model):
    """``{"noise_std_<layer>": std}`` for each layer of ``model`` whose
    carried-state noise has a trainable std (empty when none has)."""
    stds = {}
    for layer in model.layers:
        for module in layer.submodules:
            if isinstance(module, CarriedStateNoise) and module.trainable_std:
                stds[NOISE_STD_PREFIX + layer.name] = float(module.std())
    return stds


class TrainingProgress:
    """Writes ``<run_dir>/progress.json``: ``step``, ``total_steps``,
    ``rounds`` and ``latest`` (the last eval round's values).

    Args:
      run_dir: the Trainer's ``model_run`` folder.
      total_steps: the step budget (training may stop earlier).
      every_seconds: at most one write per this many seconds between eval
        rounds (a round is always written).
    """

    def __init__(self, run_dir, total_steps, every_seconds=1.0):
        self.path = None if "://" in run_dir else os.path.join(
            run_dir, contracts.PROGRESS_FILE)
        self.state = {"step": 0, "total_steps": int(total_steps),
                      "rounds": 0, "latest": None}
        self.every_seconds, self.written = every_seconds, None

    def step(self, step):
        """Records ``step``; written when the last write is old enough."""
        self.state["step"] = int(step)
        if (self.written is None  # the first step is written at once
                or time.monotonic() - self.written >= self.every_seconds):
            self._write()

    def eval_round(self, values):
        """Records an eval round's values (``step``, losses, metric)."""
        self.state["rounds"] += 1
        self.state["latest"] = dict(values)
        self._write()

    def _write(self):
        self.written = time.monotonic()
        if self.path is None:
            return
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        with open(self.path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(self.state, f)
        os.replace(self.path + ".tmp", self.path)  # readers never see half
