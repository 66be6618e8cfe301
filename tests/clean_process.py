"""Runs `saved_model_probe.py` on a SavedModel in a fresh, project-free
Python process (as TF Serving would load it)."""

import json
import pathlib
import subprocess
import sys

import numpy as np

PROBE = pathlib.Path(__file__).with_name("saved_model_probe.py")


def probe_saved_model(model_dir, inputs_path, work_dir, key=None):
    """Returns ``(report dict, outputs array)`` from the clean process."""
    outputs_path = pathlib.Path(work_dir) / "probe_outputs.npy"
    command = [sys.executable, "-I", str(PROBE), str(model_dir),
               str(inputs_path), str(outputs_path)] + ([key] if key else [])
    run = subprocess.run(command, capture_output=True, text=True,
                         cwd=work_dir, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    return report, np.load(outputs_path, allow_pickle=True)
