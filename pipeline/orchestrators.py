"""The same `create_pipeline` for production orchestrators.

- Kubeflow Pipelines v2 / Vertex AI Pipelines: `compile_kubeflow_v2` writes
  the pipeline JSON (a PipelineJob) with TFX's KubeflowV2DagRunner; no
  cluster is needed to compile. Upload it to KFP, or submit it to Vertex
  with a schedule (see README, "Production orchestrators").
- Airflow: `deploy/airflow/noisy_rnn_dag.py`, a DAG file built by TFX's
  AirflowDagRunner from the same function (Airflow itself is not part of
  this project's environment).

Paths in the config (``--output``, ``--spans-dir``) must be on storage the
orchestrator's workers share (e.g. ``gs://``), and the image must contain
this repo at ``/opt/tfx-noisy-rnn`` (``COPY . /opt/tfx-noisy-rnn`` and
``pip install -e /opt/tfx-noisy-rnn`` on top of ``gcr.io/tfx-oss-public/tfx``):
the compiled pipeline reads the dataset spec and schema from there.
"""

import copy
import dataclasses
import os

from pipeline.config import PipelineConfig
from pipeline.pipeline import REPO_ROOT, create_pipeline

DEFAULT_IMAGE = "gcr.io/my-project/tfx-noisy-rnn:latest"
REPO_IN_IMAGE = "/opt/tfx-noisy-rnn"


def in_image(config: PipelineConfig, repo_in_image=REPO_IN_IMAGE):
    """A copy of ``config`` whose dataset spec paths (spec, CSV, schema)
    point into the image's copy of this repo instead of this machine's.
    ValueError for a path outside the repo (the image would not have it)."""
    def moved(path):
        if path is None or "://" in path:
            return path
        relative = os.path.relpath(path, REPO_ROOT)
        if relative.startswith(os.pardir):
            raise ValueError(
                f"{path} is outside this repository ({REPO_ROOT}), so the "
                f"image would not have it: keep the dataset spec and schema "
                f"in the repo (e.g. schemas/<name>/), or the data on shared "
                f"storage (--spans-dir gs://...)")
        return os.path.join(repo_in_image, relative)

    spec = config.spec
    spec = dataclasses.replace(spec, path=moved(spec.path),
                               schema=moved(spec.schema), csv=moved(spec.csv))
    config = copy.copy(config)
    config.spec = spec
    return config


def compile_kubeflow_v2(config: PipelineConfig, dest, image=DEFAULT_IMAGE,
                        repo_in_image=REPO_IN_IMAGE) -> str:
    """Writes ``<dest>/<pipeline name>_pipeline.json`` for Kubeflow
    Pipelines v2 / Vertex and returns its path. The image must hold this
    repo at ``repo_in_image`` (schemas and specs are read from there)."""
    # Imported here: needs kfp-pipeline-spec, not needed by local runs.
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner  # pylint: disable=import-outside-toplevel
    os.makedirs(dest, exist_ok=True)
    file_name = f"{config.pipeline_name}_pipeline.json"
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(
            default_image=image, display_name=config.pipeline_name),
        output_dir=dest, output_filename=file_name)
    runner.run(create_pipeline(in_image(config, repo_in_image),
                               orchestrator="kubeflow_v2",
                               repo_root=repo_in_image))
    return os.path.join(dest, file_name)
