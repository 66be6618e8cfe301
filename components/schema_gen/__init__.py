"""SchemaGen that infers the schema from the splits that have examples."""

from noisy_rnn.components.schema_gen.component import Executor, SchemaGen

__all__ = ["Executor", "SchemaGen"]
