"""The TFX pipeline, its model code, and the ``noisy-rnn`` command line."""

__version__ = "0.1.0"
