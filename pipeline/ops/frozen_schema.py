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

from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.utils import io_utils

from noisy_rnn.pipeline.config import PipelineConfig
from noisy_rnn.schemas import contracts


def freeze(config: PipelineConfig, summary) -> bool:
    """After a run: keeps the schema it used if it pushed a model, the spec
    has no curated schema and none is frozen yet. Returns whether it did."""
    if not summary.pushed_path or config.spec.schema or \
            os.path.isfile(config.frozen_schema_path) or \
            not summary.schema_uri:
        return False
    schema = io_utils.SchemaReader().read(
        os.path.join(summary.schema_uri, contracts.SCHEMA_FILE))
    without_id_domain(schema)
    os.makedirs(os.path.dirname(config.frozen_schema_path), exist_ok=True)
    io_utils.write_pbtxt_file(config.frozen_schema_path + ".tmp", schema)
    os.replace(config.frozen_schema_path + ".tmp", config.frozen_schema_path)
    return True


def without_id_domain(schema: schema_pb2.Schema):
    """Drops the value domain SchemaGen infers for the sequence id when the
    first data had few sequences (up to 100 distinct values): new data
    brings new ids by nature, which a frozen domain would flag as
    anomalies on every later run."""
    for feature in schema.feature:
        if feature.name == contracts.SEQUENCE_ID_FEATURE and \
                feature.HasField("domain"):
            name = feature.domain
            feature.ClearField("domain")
            if not any(f.domain == name for f in schema.feature):
                kept = [d for d in schema.string_domain if d.name != name]
                del schema.string_domain[:]
                schema.string_domain.extend(kept)
        elif feature.name == contracts.SEQUENCE_ID_FEATURE:
            feature.ClearField("string_domain")


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
