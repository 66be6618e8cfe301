"""The TFX pipeline, its model code, and the ``noisy-rnn`` command line."""

__version__ = "0.1.0"

# The pinned stack whose versions `noisy-rnn version` prints and an
# identical rerun must share (`noisy_rnn.pipeline.ops.up_to_date`).
STACK = ("tfx", "tensorflow", "tf-keras", "tensorflow-transform",
         "apache-beam", "tensorflow-model-analysis", "ml-metadata")
