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
this project (``pip install .``) on top of ``gcr.io/tfx-oss-public/tfx``.
"""

import os

from pipeline.config import PipelineConfig
from pipeline.pipeline import create_pipeline

DEFAULT_IMAGE = "gcr.io/my-project/tfx-noisy-rnn:latest"


def compile_kubeflow_v2(config: PipelineConfig, dest,
                        image=DEFAULT_IMAGE) -> str:
    """Writes ``<dest>/<pipeline name>_pipeline.json`` for Kubeflow
    Pipelines v2 / Vertex and returns its path."""
    # Imported here: needs kfp-pipeline-spec, not needed by local runs.
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner  # pylint: disable=import-outside-toplevel
    os.makedirs(dest, exist_ok=True)
    file_name = f"{config.pipeline_name}_pipeline.json"
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(
            default_image=image, display_name=config.pipeline_name),
        output_dir=dest, output_filename=file_name)
    runner.run(create_pipeline(config, orchestrator="kubeflow_v2"))
    return os.path.join(dest, file_name)
