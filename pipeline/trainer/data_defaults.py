"""Training length chosen from the number of training examples, when it is
left to the data (``--train-steps 0``, the default).

The fixed default of 600 steps of 32 examples was tuned on JapaneseVowels'
~230 training sequences (~80 passes over them); a training set of 100,000
examples would not be seen once in 600 steps. So: enough steps for
``MIN_PASSES`` passes over the data, at least ``DEFAULT_STEPS`` and at most
``MAX_STEPS``. Early stopping on the validation slice still ends training
sooner.

``MIN_PASSES`` was 10 until the trained branches learned beside a fitted
linear path, starting from nothing: on CO2 (1,109 training windows) their
validation loss was still falling at 600 steps (17 passes) and at 1,100
(kept at 1,100, eval MAE 0.306 -> 0.298 ppm). The field trains far longer
(FCN 2,000 epochs, InceptionTime 1,500); early stopping ends a run whose
candidates no longer improve, so the larger budget costs time only where
the model still learns.

The batch size stays 32 whatever the data: halving it for small training
sets (8 for 30-60 examples) was measured worse on all three small archive
datasets tried (README, "Public benchmark suite").
"""

import math

DEFAULT_STEPS = 600
MIN_PASSES = 40
MAX_STEPS = 3000


def choose_train_steps(examples, batch_size):
    """The step budget for ``examples`` training examples in batches of
    ``batch_size`` (see module)."""
    passes = math.ceil(MIN_PASSES * examples / batch_size)
    return min(MAX_STEPS, max(DEFAULT_STEPS, passes))
