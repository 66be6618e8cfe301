"""SequenceExampleGen: a TFX ExampleGen for long time-series CSVs."""

import os

from google.protobuf import any_pb2, struct_pb2
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2

from noisy_rnn.components.sequence_example_gen import executor
from noisy_rnn.schemas.dataset_spec import DatasetSpec


def _custom_config(spec: DatasetSpec, validation_fraction, seed,
                   spans_window=1, input_pattern=None):
    struct = struct_pb2.Struct()
    struct.update({"dataset": spec.to_dict(),
                   "validation": {"fraction": validation_fraction,
                                  "seed": seed}})
    if spans_window > 1:  # absent otherwise: earlier runs stay cached
        struct.update({"spans_window": {"size": spans_window,
                                        "pattern": input_pattern}})
    packed = any_pb2.Any()
    packed.Pack(struct)
    return example_gen_pb2.CustomConfig(custom_config=packed)


class SequenceExampleGen(FileBasedExampleGen):
    """Turns a long CSV (one row per time step) into ``train``/``eval``
    `Examples`: one `tf.Example` per sequence or per sliding window, each
    feature a float list over the steps (see `noisy_rnn.schemas.dataset_spec`).
    With a ``validation_fraction``, a ``validation`` split is carved from
    train (for the Trainer's early stopping; eval stays for the Evaluator).

    It is a `FileBasedExampleGen`, so the TFX driver fingerprints the CSV: a
    changed file re-runs it, an unchanged one is served from the cache, and
    ``input_pattern`` may use the ``{SPAN}`` convention.

    Args:
      dataset: a `DatasetSpec` (see
        `noisy_rnn.schemas.dataset_spec.load_spec`).
      input_base: folder the pattern is relative to; default the CSV's.
      input_pattern: file pattern relative to ``input_base``, e.g.
        ``span-{SPAN}/*.csv`` (the latest span is read); default the CSV's
        file name.
      validation_fraction: share of the training examples moved to the
        ``validation`` split, in [0, 1); 0: no validation split. Sequences
        mode: whole sequences, ``fraction`` of each class, chosen by a hash
        of ``seed`` and the sequence id. Windows mode: the latest
        ``fraction`` of each series' training windows.
      seed: see ``validation_fraction``.
      spans_window: with a ``{SPAN}`` pattern, read the latest K spans (the
        driver's latest span and the K - 1 before it, all present) as one
        dataset, each series' rows joined in step order: for disjoint
        deliveries. The Examples artifact's ``span`` is the latest; its
        ``spans`` custom property lists those read. Only the latest span's
        files are fingerprinted (TFX's driver): the earlier ones are
        deliveries already made, not expected to change.

    Example:

    ```python
    spec = load_spec("schemas/japanese_vowels/dataset.yaml")
    example_gen = SequenceExampleGen(dataset=spec)
    statistics_gen = StatisticsGen(examples=example_gen.outputs["examples"])
    ```
    """

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(self, dataset: DatasetSpec, input_base: str = None,
                 input_pattern: str = None, validation_fraction: float = 0.0,
                 seed: int = 0, spans_window: int = 1):
        if not 0 <= validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in [0, 1), got "
                             f"{validation_fraction}")
        if spans_window > 1 and "{SPAN}" not in (input_pattern or ""):
            raise ValueError(f"spans_window {spans_window} needs an "
                             f"input_pattern with {{SPAN}}")
        super().__init__(
            input_base=input_base or os.path.dirname(dataset.csv),
            input_config=example_gen_pb2.Input(splits=[
                example_gen_pb2.Input.Split(
                    name="rows",
                    pattern=input_pattern or os.path.basename(dataset.csv))]),
            output_config=example_gen_pb2.Output(
                split_config=example_gen_pb2.SplitConfig(splits=[
                    example_gen_pb2.SplitConfig.Split(name=name,
                                                      hash_buckets=1)
                    for name in executor.output_splits(
                        validation_fraction)])),
            custom_config=_custom_config(dataset, validation_fraction, seed,
                                         spans_window, input_pattern))
