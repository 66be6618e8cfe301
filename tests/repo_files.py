"""Test helpers shared by unit and end-to-end tests: the repo's scripts
(not part of the package) loaded by path, and padded model inputs."""

import importlib.util
import pathlib
import sys

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]


def load_script(relative_path):
    """Imports a repo script (e.g. ``data/synthetic.py``) as a module, its
    folder importable meanwhile (as when Python runs it: scripts import
    their siblings)."""
    path = REPO / relative_path
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


def padded_batch(lengths, time, channels=3, seed=0):
    """``(values [batch, time, channels], mask [batch, time])``: random
    values for each sequence's ``lengths[i]`` steps, zeros after."""
    rng = np.random.default_rng(seed)
    values = np.zeros((len(lengths), time, channels), np.float32)
    for row, length in enumerate(lengths):
        values[row, :length] = rng.normal(size=(length, channels))
    mask = np.arange(time)[None, :] < np.array(lengths)[:, None]
    return values, mask
