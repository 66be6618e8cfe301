"""The same `create_pipeline` for production orchestrators.

- Kubeflow Pipelines v2 / Vertex AI Pipelines: `compile_kubeflow_v2` writes
  the pipeline JSON (a PipelineJob) with TFX's KubeflowV2DagRunner; no
  cluster is needed to compile. Upload it to KFP, or submit it to Vertex
  with a schedule (see README, "Production orchestrators").
- Airflow: `deploy/airflow/noisy_rnn_dag.py`, a DAG file built by TFX's
  AirflowDagRunner from the same function (Airflow itself is not part of
  this project's environment).

Paths in the config (``--output``, ``--spans-dir``) must be on storage the
orchestrator's workers share (e.g. ``gs://``). The image must have this
project installed (``pip install --no-deps tfx_noisy_rnn-*.whl`` on top of
``gcr.io/tfx-oss-public/tfx:1.16.0``): the components import it, and a
bundled dataset's spec, schema and CSV are read from the image's installed
package (``package_in_image``), never from the compiling machine.
"""

import copy
import dataclasses
import os

from noisy_rnn.pipeline.config import PACKAGE_IN_IMAGE, PipelineConfig
from noisy_rnn.pipeline.pipeline import create_pipeline
from noisy_rnn.schemas.dataset_spec import BUNDLED_DIR

DEFAULT_IMAGE = "gcr.io/my-project/tfx-noisy-rnn:latest"
# The package folders that hold bundled files (specs, schemas, CSVs), and
# the installed package's root on this machine (the checkout, when
# installed in editable mode: the same relative layout).
_BUNDLED_FOLDERS = ("schemas", "data")
_PACKAGE_ROOT = os.path.dirname(BUNDLED_DIR)


def in_image(config: PipelineConfig, package_in_image=PACKAGE_IN_IMAGE):
    """A copy of ``config`` whose dataset paths (spec, CSV, schema) point
    into the image's installed package instead of this machine's.

    URIs (gs://...) are kept. A local path outside the bundled datasets is a
    ValueError (the image would not have it), except the spec and CSV when
    the data comes from ``spans_dir`` on shared storage (then they only
    name the columns and appear in messages); a curated schema must be
    bundled or on shared storage too.
    """
    data_elsewhere = bool(config.spans_dir and "://" in config.spans_dir)

    def moved(path, key, optional=False):
        if path is None or "://" in path:
            return path
        relative = os.path.relpath(path, _PACKAGE_ROOT)
        if relative.split(os.sep)[0] in _BUNDLED_FOLDERS:
            return os.path.join(package_in_image, relative)
        if optional:
            return path
        raise ValueError(
            f"{key} {path} is not a bundled dataset file, so the image "
            f"would not have it: use a bundled dataset (--dataset co2), put "
            f"it on shared storage (gs://...), or read the data from "
            f"--spans-dir gs://...")

    spec = config.spec
    spec = dataclasses.replace(
        spec, path=moved(spec.path, "spec", optional=data_elsewhere),
        csv=moved(spec.csv, "CSV", optional=data_elsewhere),
        schema=moved(spec.schema, "schema"))
    config = copy.copy(config)
    config.spec = spec
    return config


def compile_kubeflow_v2(config: PipelineConfig, dest, image=DEFAULT_IMAGE,
                        package_in_image=PACKAGE_IN_IMAGE) -> str:
    """Writes ``<dest>/<pipeline name>_pipeline.json`` for Kubeflow
    Pipelines v2 / Vertex and returns its path. The image must have this
    project installed at ``package_in_image`` (bundled specs and schemas
    are read from there)."""
    # Imported here: needs kfp-pipeline-spec, not needed by local runs.
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner  # pylint: disable=import-outside-toplevel
    os.makedirs(dest, exist_ok=True)
    file_name = f"{config.pipeline_name}_pipeline.json"
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(
            default_image=image, display_name=config.pipeline_name),
        output_dir=dest, output_filename=file_name)
    runner.run(create_pipeline(in_image(config, package_in_image),
                               orchestrator="kubeflow_v2"))
    return os.path.join(dest, file_name)
