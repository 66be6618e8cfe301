"""The resolvers of the latest pushed model (warm start, baseline), on TFX
artifacts as MLMD hands them over."""

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx.types import standard_artifacts

from noisy_rnn.components.baseline_resolver import (
    LatestPushedBaselineStrategy, LatestPushedModelStrategy)
from noisy_rnn.components.baseline_resolver.strategy import \
    current_candidates


def artifacts(pushed, evaluated_only=(), count=3):
    """Models 1..count; ``pushed`` ids blessed by both gates,
    ``evaluated_only`` ids blessed by the Evaluator only."""
    models, blessings, infra = [], [], []
    for model_id in range(1, count + 1):
        model = standard_artifacts.Model()
        model.id = model_id
        models.append(model)
        for kind, blessed, out in (
                (standard_artifacts.ModelBlessing,
                 model_id in pushed or model_id in evaluated_only, blessings),
                (standard_artifacts.InfraBlessing, model_id in pushed, infra)):
            blessing = kind()
            blessing.id = 100 * len(out) + model_id
            blessing.set_int_custom_property("current_model_id", model_id)
            blessing.set_int_custom_property("blessed", int(blessed))
            out.append(blessing)
    return {"model": models, "model_blessing": blessings,
            "infra_blessing": infra}


def resolved_id(strategy, inputs):
    models = strategy().resolve_artifacts(None, inputs)["model"]
    return models[0].id if models else None


def test_warm_start_is_the_latest_model_both_gates_blessed():
    assert resolved_id(LatestPushedModelStrategy,
                       artifacts(pushed={1}, evaluated_only={3})) == 1
    assert resolved_id(LatestPushedModelStrategy,
                       artifacts(pushed=set())) is None


def test_baseline_is_never_the_candidate_even_a_cached_old_one():
    """Model 1 pushed, then model 2 (better) pushed; a rerun reuses model 1
    from the cache as candidate: the baseline must be model 2, so model 1
    cannot be pushed again over it."""
    inputs = artifacts(pushed={1, 2}, count=2)
    inputs["candidate"] = [inputs["model"][0]]
    result = LatestPushedBaselineStrategy().resolve_artifacts(None, inputs)
    assert [m.id for m in result["model"]] == [2]
    assert result["candidate"] == inputs["candidate"]
    # A fresh candidate (newest model 3) gets the latest pushed, model 2.
    inputs = artifacts(pushed={1, 2}, count=3)
    inputs["candidate"] = [inputs["model"][2]]
    assert resolved_id(LatestPushedBaselineStrategy, inputs) == 2


def legacy_store(models, executions):
    """An in-memory MLMD store with ``executions``, ``(type name, indices
    into models)`` in order, each recording OUTPUT events for those models
    as TFX's legacy drivers do (a Trainer for what it made or reused from
    the cache, a resolver for what it passed on), under the ids
    ``models`` already have."""
    config = metadata_store_pb2.ConnectionConfig()
    config.fake_database.SetInParent()
    store = metadata_store.MetadataStore(config)
    model_type = store.put_artifact_type(
        metadata_store_pb2.ArtifactType(name="Model"))
    type_ids = {name: store.put_execution_type(
        metadata_store_pb2.ExecutionType(name=name))
        for name in (TRAINER, RESOLVER)}
    ids = store.put_artifacts([metadata_store_pb2.Artifact(
        type_id=model_type) for _ in models])
    # The blessings of `artifacts` name the models 1..count.
    assert ids == [model.id for model in models], ids
    for name, outputs in executions:
        [execution] = store.put_executions([metadata_store_pb2.Execution(
            type_id=type_ids[name])])
        store.put_events([metadata_store_pb2.Event(
            artifact_id=models[index].id, execution_id=execution,
            type=metadata_store_pb2.Event.OUTPUT) for index in outputs])
    return store


TRAINER = "tfx.components.trainer.component.Trainer"
RESOLVER = "tfx.dsl.components.common.resolver.Resolver"


def test_a_legacy_candidate_channel_excludes_only_the_latest_run_s_model():
    """Under the AirflowDagRunner the candidate channel holds every model
    the Trainer ever made: only the latest Trainer execution's is this
    run's. Models 1 and 2 pushed, model 3 fresh: the baseline is model 2
    (before, every model was excluded and there was no baseline)."""
    inputs = artifacts(pushed={1, 2}, count=3)
    store = legacy_store(inputs["model"], [
        (TRAINER, [0]), (RESOLVER, [0]), (TRAINER, [1]), (RESOLVER, [0, 1]),
        (TRAINER, [2])])
    inputs["candidate"] = list(inputs["model"])
    result = LatestPushedBaselineStrategy().resolve_artifacts(store, inputs)
    assert [m.id for m in result["model"]] == [inputs["model"][1].id]
    # Only this run's candidate is passed on: MLMD refuses a resolver
    # execution recording one artifact under two keys.
    assert result["candidate"] == [inputs["model"][2]]
    # The latest Trainer execution reused model 1 from the cache (and a
    # resolver passed model 1 on after it): model 1 is this run's
    # candidate, so the baseline is model 2, never model 1.
    inputs = artifacts(pushed={1, 2}, count=2)
    store = legacy_store(inputs["model"], [
        (TRAINER, [0]), (TRAINER, [1]), (TRAINER, [0]), (RESOLVER, [1])])
    inputs["candidate"] = list(inputs["model"])
    assert current_candidates(store, inputs["candidate"]) == \
        [inputs["model"][0]]
    result = LatestPushedBaselineStrategy().resolve_artifacts(store, inputs)
    assert [m.id for m in result["model"]] == [inputs["model"][1].id]
