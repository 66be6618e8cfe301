"""`create_pipeline`: wires the components, and nothing else.

SequenceExampleGen -> StatisticsGen -> (ImportSchemaGen | SchemaGen) ->
ExampleValidator -> AnomaliesGate, DriftGate (against the served model's
training statistics) -> Transform -> (Tuner, with ``tune``) -> Trainer -> Evaluator
(baseline: the latest pushed model) -> ServingValidator -> Pusher; with
``warm_start``, the Trainer starts from the latest pushed model.
"""

import dataclasses
import json
import os

import tensorflow_model_analysis as tfma
from apache_beam.options.pipeline_options import PipelineOptions
# Direct imports, not `tfx.v1`: that also imports the Google Cloud extensions
# (~5 s of start-up for every command).
from tfx.components import (Evaluator, ExampleValidator, Pusher,
                            StatisticsGen, Trainer, Transform)
from tfx.components.schema_gen.import_schema_gen.component import \
    ImportSchemaGen
from tfx.dsl.components.base import executor_spec
from tfx.dsl.components.common.resolver import Resolver
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import \
    LatestBlessedModelStrategy
from tfx.orchestration import metadata
from tfx.orchestration.pipeline import Pipeline
from tfx.proto import pusher_pb2, trainer_pb2
from tfx.types import Channel, standard_artifacts

from noisy_rnn.components.anomalies_gate import AnomaliesGate
from noisy_rnn.components.baseline_resolver import (
    LatestPushedBaselineStrategy, LatestPushedModelStrategy,
    LatestPushedStatisticsStrategy)
from noisy_rnn.components.drift_gate import DriftGate
from noisy_rnn.components.noise_tuner import Tuner
from noisy_rnn.components.schema_gen import SchemaGen
from noisy_rnn.components.sequence_example_gen import SequenceExampleGen
from noisy_rnn.components.serving_validator import ServingValidator
from noisy_rnn.pipeline.config import PipelineConfig
from noisy_rnn.pipeline.trainer import naive_baselines
from noisy_rnn.schemas import contracts

SPAN_PATTERN = "span-{SPAN}/*.csv"
# The models are evaluated through their serving signatures, loaded with
# `tf.saved_model.load`. Left unset, TFMA guesses the type by rebuilding
# each model (candidate and baseline) as a Keras model: seconds per model,
# for a rebuild that fails on the convolutional branch's layer (and ends in
# this type) or, without that branch, loads the same signatures slower.
MODEL_TYPE = tfma.TF_GENERIC
# Module paths TFX imports inside the components.
# Keras metrics without AutoGraph:
METRICS_MODULE = "noisy_rnn.pipeline.trainer.metrics"
NAIVE_BASELINES_MODULE = naive_baselines.__name__
PREPROCESSING_FN = "noisy_rnn.pipeline.trainer.preprocessing.preprocessing_fn"
TUNER_FN = "noisy_rnn.pipeline.trainer.tuning.tuner_fn"
# The Evaluator's extractors (TFMA's, with sequence features split fast).
EXTRACTORS_MODULE = "noisy_rnn.pipeline.trainer.extractors"
# Beam flags that ship Python code to workers (as TFX's
# dependency_utils.make_beam_dependency_flags lists them).
_DEPENDENCY_FLAGS = ("extra_packages", "setup_file", "requirements_file",
                     "worker_harness_container_image", "sdk_container_image")
# Beam accepts these case-insensitively, with or without "Runner".
_DIRECT_RUNNERS = ("direct", "bundlebaseddirect", "switchingdirect")
# The components that run Beam pipelines (all of them on the pipeline's
# runner unless kept on the DirectRunner, `PipelineConfig.direct_components`).
BEAM_COMPONENTS = ("SequenceExampleGen", "StatisticsGen", "Transform",
                   "Evaluator")
# Appended to a kept component's Beam arguments (later flags win): the
# DirectRunner, its Python work in this process rather than in the
# pipeline's environment (e.g. a cluster's EXTERNAL worker pool).
DIRECT_RUNNER_ARGS = ("--runner=DirectRunner",
                      "--environment_type=beam:env:embedded_python:v1")


def worker_package_flag(path, must_exist=True):
    """The Beam flag that ships ``path`` to the workers: a wheel as
    ``--extra_package``, a checkout's ``setup.py`` as ``--setup_file``.
    ValueError for anything else (or, with ``must_exist``, a missing
    local file)."""
    if must_exist and "://" not in path and not os.path.isfile(path):
        raise ValueError(f"worker package {path}: no such file (build the "
                         f"wheel with 'pip wheel --no-deps -w dist .')")
    if path.endswith(".whl"):
        return f"--extra_package={path}"
    if os.path.basename(path) == "setup.py":
        return f"--setup_file={path}"
    raise ValueError(f"worker package {path}: expected a wheel (.whl) or a "
                     f"checkout's setup.py")


def is_direct(args):
    """Whether Beam arguments ``args`` select a DirectRunner (the default)."""
    runner = PipelineOptions(flags=list(args)).get_all_options().get(
        "runner") or "DirectRunner"
    short = runner.split(".")[-1].lower()
    short = short[:-len("runner")] if short.endswith("runner") else short
    return short in _DIRECT_RUNNERS


def beam_args(config: PipelineConfig, must_exist=True):
    """``config.beam_pipeline_args``, plus how Beam workers get this
    project's code: ``config.worker_package`` (see `worker_package_flag`),
    or nothing when ``config.workers_local`` (workers started from this
    environment, like the local Flink cluster's worker pool).

    Without it, a DirectRunner needs nothing (its workers are this machine's
    processes, which import the installed package); a remote runner
    (Flink, Spark, Dataflow, ...) without it or a dependency flag of its own
    is an error that says what to pass: it would get TFX but not this
    project's components and Trainer code. Note: given some Beam arguments
    but no dependency flag, TFX builds an sdist of itself for every Beam
    component (~2 s each); the default (no Beam arguments) avoids that.
    ``must_exist``: check that a local worker package exists (not when it
    names a path inside an image).
    """
    args = list(config.beam_pipeline_args)
    options = PipelineOptions(flags=args).get_all_options()
    if config.worker_package:
        return args + [worker_package_flag(config.worker_package,
                                           must_exist)]
    if config.workers_local:  # e.g. the local Flink cluster's worker pool
        return args
    runner = (options.get("runner") or "DirectRunner").split(".")[-1]
    if not is_direct(args) and \
            not any(options.get(flag) for flag in _DEPENDENCY_FLAGS):
        raise ValueError(
            f"the {runner}'s workers need this project's code: pass "
            f"--worker-package with a wheel built by 'pip wheel --no-deps "
            f"-w dist .' (or, from a checkout, its setup.py), or a Beam "
            f"dependency flag of your own (--beam-arg=--extra_package=...)")
    return args


def naive_forecasts(spec):
    """``{name: window position}`` of the naive forecasts the Evaluator
    computes for ``spec``: persistence (the window's last value) and, with a
    season, seasonal-naive; none unless forecasting a channel's own
    future."""
    if not spec.forecasts_own_channel:
        return {}
    forecasts = {naive_baselines.PERSISTENCE: -1}
    if spec.season:
        forecasts[naive_baselines.SEASONAL_NAIVE] = (
            spec.window - 1 + spec.horizon - spec.season)
    return forecasts


def eval_config(config: PipelineConfig) -> tfma.EvalConfig:
    """TFMA config: the blessing threshold, and 'no worse than the baseline'.

    Classification: sparse categorical accuracy >= ``min_accuracy``.
    Regression: MAE <= ``max_mae`` (if set); RMSE reported; forecasting a
    channel's own future, each naive forecast's MAE on the same windows (see
    `naive_forecasts`) and, with ``beat_naive``, the model's MAE below each;
    and the least-squares AR's MAE and ``mae_vs_ar``, reported only.
    """
    spec = config.spec
    tiny = {"value": 1e-10}
    if spec.task == "classification":
        model_spec = tfma.ModelSpec(
            signature_name=contracts.SERVING_DEFAULT, model_type=MODEL_TYPE,
            label_key=contracts.LABEL_KEY,
            prediction_key=contracts.PROBABILITIES,
            preprocessing_function_names=["transform_features"])
        metrics = [tfma.MetricConfig(
            class_name="SparseCategoricalAccuracy", module=METRICS_MODULE,
            threshold=tfma.MetricThreshold(
                value_threshold=tfma.GenericValueThreshold(
                    lower_bound={"value": config.min_accuracy}),
                change_threshold=tfma.GenericChangeThreshold(
                    direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                    absolute={"value": -1e-10})))]
    else:
        model_spec = tfma.ModelSpec(
            signature_name=contracts.SERVING_DEFAULT, model_type=MODEL_TYPE,
            label_key=spec.label_feature,
            prediction_key=contracts.PREDICTION)
        # Always a value threshold: with a change threshold alone, TFMA
        # reports "missing thresholds" (never blessed) when no baseline exists.
        value_threshold = tfma.GenericValueThreshold(upper_bound={
            "value": 1e30 if config.max_mae is None else config.max_mae})
        metrics = [
            tfma.MetricConfig(
                class_name="MeanAbsoluteError", module=METRICS_MODULE,
                threshold=tfma.MetricThreshold(
                    value_threshold=value_threshold,
                    change_threshold=tfma.GenericChangeThreshold(
                        direction=tfma.MetricDirection.LOWER_IS_BETTER,
                        absolute=tiny))),
            tfma.MetricConfig(class_name="RootMeanSquaredError",
                              module=METRICS_MODULE)]
        for name, position in naive_forecasts(spec).items():
            # The metric's value is the model's MAE over the naive one's.
            beaten = tfma.MetricThreshold(
                value_threshold=tfma.GenericValueThreshold(
                    upper_bound={"value": 1 - 1e-9}))
            metrics.append(tfma.MetricConfig(
                class_name="NaiveForecastComparison",
                module=NAIVE_BASELINES_MODULE,
                config=json.dumps({"forecast": name, "feature": spec.label,
                                   "position": position}),
                threshold=beaten if config.beat_naive else None))
        if spec.forecasts_own_channel:
            # Reported, not a gate: the model's MAE over the least-squares
            # AR's (the Trainer exports its forecast beside the model's).
            metrics.append(tfma.MetricConfig(
                class_name="NaiveForecastComparison",
                module=NAIVE_BASELINES_MODULE,
                config=json.dumps({"forecast": naive_baselines.AR,
                                   "feature": spec.label,
                                   "output": contracts.LEAST_SQUARES_AR})))
    return tfma.EvalConfig(
        model_specs=[model_spec], slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[tfma.MetricsSpec(metrics=metrics)])


def beam_components(components):
    """The components whose executors run Beam pipelines."""
    return [c for c in components
            if isinstance(getattr(c, "executor_spec", None),
                          executor_spec.BeamExecutorSpec)]


def _place_beam_jobs(components, config):
    """Off the DirectRunner: names each Beam component's job
    ``<pipeline>-<component id>`` so a cluster's job list (e.g. Flink's web
    UI) says which is which, and keeps ``config.direct_components`` on the
    DirectRunner (for a component a cluster cannot run)."""
    beam = beam_components(components)
    unknown = set(config.direct_components) - {c.id for c in beam}
    if unknown:
        raise ValueError(
            f"--direct-component {', '.join(sorted(unknown))}: not a Beam "
            f"component of this pipeline (one of "
            f"{', '.join(c.id for c in beam)})")
    for component in beam:
        component.with_beam_pipeline_args(
            [f"--job_name={config.pipeline_name}-{component.id}"] +
            (list(DIRECT_RUNNER_ARGS)
             if component.id in config.direct_components else []))


def _pushed_model_resolver(node_id, kubeflow, candidate=None):
    """A resolver of the latest *pushed* model (blessed by the Evaluator and
    the ServingValidator), excluding the ``candidate`` channel's model if
    given (the Evaluator's baseline; it then resolves after the Trainer).

    Kubeflow V2 / Vertex only compiles TFX's built-in
    LatestBlessedModelStrategy: there it is the latest Evaluator-blessed
    model, resolved before the Trainer.
    """
    channel_types = {"model": standard_artifacts.Model,
                     "model_blessing": standard_artifacts.ModelBlessing}
    extra = {}
    if kubeflow:
        strategy = LatestBlessedModelStrategy
    else:
        channel_types["infra_blessing"] = standard_artifacts.InfraBlessing
        strategy = LatestPushedModelStrategy
        if candidate is not None:
            strategy, extra = LatestPushedBaselineStrategy, {
                "candidate": candidate}
    return Resolver(strategy_class=strategy, **{
        key: Channel(type=artifact_type)
        for key, artifact_type in channel_types.items()},
        **extra).with_id(node_id)


def create_pipeline(config: PipelineConfig,
                    orchestrator: str = "local") -> Pipeline:
    """The TFX pipeline for ``config``'s dataset and model.

    ``orchestrator``: ``local`` (LocalDagRunner, the default) or
    ``kubeflow_v2`` (Kubeflow Pipelines v2 / Vertex, which only supports
    TFX's built-in resolver strategies; see `_pushed_model_resolver`).
    """
    if orchestrator not in ("local", "kubeflow_v2"):
        raise ValueError(f"orchestrator must be local or kubeflow_v2, got "
                         f"{orchestrator!r}")
    spec = config.spec
    validation = {"validation_fraction": config.model.validation_fraction,
                  "seed": config.model.seed}
    if config.spans_dir:  # the latest span-<N>/ folder (or latest K)
        example_gen = SequenceExampleGen(dataset=spec,
                                         input_base=config.spans_dir,
                                         input_pattern=SPAN_PATTERN,
                                         spans_window=config.spans_window,
                                         **validation)
    else:
        example_gen = SequenceExampleGen(dataset=spec, **validation)
    statistics_gen = StatisticsGen(
        examples=example_gen.outputs["examples"])
    if config.schema_file:  # curated, or frozen by the first push
        schema_gen = ImportSchemaGen(schema_file=config.schema_file)
    else:
        # Skips an empty split (a validation slice with nothing to spare).
        schema_gen = SchemaGen(
            statistics=statistics_gen.outputs["statistics"],
            infer_feature_shape=False)
    example_validator = ExampleValidator(
        statistics=statistics_gen.outputs["statistics"],
        schema=schema_gen.outputs["schema"])
    anomalies_gate = AnomaliesGate(
        anomalies=example_validator.outputs["anomalies"])

    transform = Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn=PREPROCESSING_FN,
        custom_config={"features": spec.features,
                       "label": spec.label_feature, "task": spec.task,
                       "anchor": spec.label if spec.forecast_change else None},
        disable_statistics=True, disable_analyzer_cache=True,
        # The Trainer applies the graph to the raw examples itself.
        materialize=False)
    transform.add_upstream_node(anomalies_gate)

    kubeflow = orchestrator == "kubeflow_v2"
    drift_nodes = []
    if not kubeflow:  # its resolver strategy is not one Kubeflow compiles
        served_statistics = Resolver(
            strategy_class=LatestPushedStatisticsStrategy,
            model=Channel(type=standard_artifacts.Model),
            model_blessing=Channel(type=standard_artifacts.ModelBlessing),
            infra_blessing=Channel(type=standard_artifacts.InfraBlessing),
            statistics=Channel(type=standard_artifacts.ExampleStatistics),
            candidate=statistics_gen.outputs["statistics"],
        ).with_id("served_statistics")
        drift_gate = DriftGate(
            statistics=statistics_gen.outputs["statistics"],
            schema=schema_gen.outputs["schema"],
            baseline_statistics=served_statistics.outputs["statistics"],
            features=json.dumps(spec.features + [spec.label_feature]),
            thresholds=json.dumps(spec.drift_thresholds, sort_keys=True))
        # Schema anomalies (more specific) are reported first.
        drift_gate.add_upstream_node(anomalies_gate)
        transform.add_upstream_node(drift_gate)
        drift_nodes = [served_statistics, drift_gate]
    warm_start = (_pushed_model_resolver("latest_pushed_model", kubeflow)
                  if config.warm_start else None)

    # Model selection on the validation slice carved from train; the eval
    # split is the Evaluator's alone.
    selection_split = (contracts.VALIDATION_SPLIT
                       if config.model.validation_fraction else "train")
    explicit = sorted(config.explicit_options)
    tuner = None
    if config.tune:
        tuner = Tuner(
            tuner_fn=TUNER_FN,
            examples=example_gen.outputs["examples"],
            transform_graph=transform.outputs["transform_graph"],
            schema=schema_gen.outputs["schema"],
            train_args=trainer_pb2.TrainArgs(splits=["train"]),
            eval_args=trainer_pb2.EvalArgs(splits=[selection_split]),
            custom_config={
                "model": dataclasses.asdict(config.model),
                "dataset": spec.to_dict(),
                "tune": dataclasses.asdict(config.tune),
                "explicit": explicit,
                "validation": bool(config.model.validation_fraction)})

    trainer = Trainer(
        run_fn=config.run_fn,
        examples=example_gen.outputs["examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        # No step count when it is left to the data (the Trainer chooses).
        train_args=trainer_pb2.TrainArgs(
            num_steps=config.model.train_steps or None),
        eval_args=trainer_pb2.EvalArgs(splits=[selection_split],
                                       num_steps=None),
        base_model=warm_start.outputs["model"] if warm_start else None,
        hyperparameters=(tuner.outputs["best_hyperparameters"] if tuner
                         else None),
        custom_config={"model": dataclasses.asdict(config.model),
                       "dataset": spec.to_dict(),
                       **({"explicit": explicit} if tuner else {})})

    baseline = _pushed_model_resolver(
        "latest_pushed_baseline", kubeflow,
        candidate=trainer.outputs["model"])

    evaluator = Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=baseline.outputs["model"],
        schema=schema_gen.outputs["schema"],
        example_splits=["eval"],
        eval_config=eval_config(config),
        module_path=EXTRACTORS_MODULE)

    serving_validator = ServingValidator(
        model=trainer.outputs["model"],
        model_run=trainer.outputs["model_run"],
        examples=example_gen.outputs["examples"],
        model_blessing=evaluator.outputs["blessing"],
        features=spec.features, model_name=config.model_name,
        budgets_ms=config.latency_budgets_ms)

    # No `model`: Pusher pushes the validated copy the InfraBlessing
    # carries (with its warmup requests).
    pusher = Pusher(
        model_blessing=evaluator.outputs["blessing"],
        infra_blessing=serving_validator.outputs["blessing"],
        push_destination=pusher_pb2.PushDestination(
            filesystem=pusher_pb2.PushDestination.Filesystem(
                base_directory=config.serving_dir)))

    components = ([example_gen, statistics_gen, schema_gen,
                   example_validator, anomalies_gate] + drift_nodes +
                  [transform] + ([tuner] if tuner else []) +
                  ([warm_start] if warm_start else []) +
                  [trainer, baseline, evaluator, serving_validator, pusher])
    pipeline_args = beam_args(config, must_exist=orchestrator == "local")
    if not is_direct(pipeline_args):
        _place_beam_jobs(components, config)
    return Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=config.pipeline_root,
        components=components,
        enable_cache=config.enable_cache,
        # Kubeflow / Vertex bring their own MLMD.
        metadata_connection_config=(
            metadata.sqlite_metadata_connection_config(config.metadata_path)
            if orchestrator == "local" else None),
        beam_pipeline_args=pipeline_args)
