"""The project's noise rule for choices made on few examples: a candidate
beats a reference when its losses, paired example by example (or run by
run), are lower by more than one standard error of the mean difference.
The Tuner's noise choice, dropping the linear path for the branches alone
and the AR path's penalty all use it, so a chance dip on a small slice
never decides."""

import math

import numpy as np


def paired_gain(reference, candidate):
    """``(gain, standard error)``: how much lower ``candidate``'s losses are
    than ``reference``'s, pair by pair, and the standard error of that mean
    difference: inf with fewer than two pairs (and a gain of 0 with
    none), so such a candidate never beats."""
    differences = np.asarray(reference) - np.asarray(candidate)
    if len(differences) < 2:
        return (float(differences.mean()) if len(differences) else 0.0,
                math.inf)
    return (float(differences.mean()),
            float(differences.std(ddof=1) / math.sqrt(len(differences))))


def beats(reference, candidate):
    """Whether ``candidate``'s paired losses are lower than
    ``reference``'s by more than one standard error."""
    gain, error = paired_gain(reference, candidate)
    return gain > error
