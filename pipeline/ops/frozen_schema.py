"""The schema frozen by the first pushed model, for specs without a curated
``schema.pbtxt``.

SchemaGen infers a schema from each run's own data, so it accepts whatever
the data has become. Once a model is pushed, its run's inferred schema is
copied to ``<output>/frozen_schema/schema.pbtxt`` and every later run
imports it instead (`PipelineConfig.schema_file`). `export` copies it next
to the spec, where it becomes the curated schema (which always wins).
"""

import os
import shutil

from noisy_rnn.pipeline.config import PipelineConfig
from noisy_rnn.schemas import contracts


def freeze(config: PipelineConfig, summary) -> bool:
    """After a run: keeps the schema it used if it pushed a model, the spec
    has no curated schema and none is frozen yet. Returns whether it did."""
    if not summary.pushed_path or config.spec.schema or \
            os.path.isfile(config.frozen_schema_path) or \
            not summary.schema_uri:
        return False
    source = os.path.join(summary.schema_uri, contracts.SCHEMA_FILE)
    os.makedirs(os.path.dirname(config.frozen_schema_path), exist_ok=True)
    shutil.copyfile(source, config.frozen_schema_path + ".tmp")
    os.replace(config.frozen_schema_path + ".tmp", config.frozen_schema_path)
    return True


def export(config: PipelineConfig, dest=None, force=False) -> str:
    """Copies the frozen schema to ``dest`` (default: ``schema.pbtxt`` next
    to the dataset spec, where the next run takes it as the curated schema)
    and returns that path. FileNotFoundError if nothing is frozen yet;
    FileExistsError rather than overwrite a file without ``force``."""
    if not os.path.isfile(config.frozen_schema_path):
        raise FileNotFoundError(
            f"no frozen schema at {config.frozen_schema_path}: it is written "
            f"when the first model is pushed for a spec without a curated "
            f"schema (run `noisy-rnn run` first)")
    dest = dest or os.path.join(os.path.dirname(config.spec.path),
                                contracts.SCHEMA_FILE)
    if os.path.exists(dest) and not force:
        raise FileExistsError(f"{dest} exists: pass --force to overwrite it")
    shutil.copyfile(config.frozen_schema_path, dest)
    return dest
