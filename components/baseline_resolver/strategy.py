"""Model resolution by what was *pushed*: the latest model blessed by both
the Evaluator (ModelBlessing) and the ServingValidator (InfraBlessing) —
exactly the models the Pusher pushed, i.e. what TF Serving serves.

- `LatestPushedModelStrategy`: for the Trainer's ``base_model`` (warm start),
  resolved before the Trainer runs.
- `LatestPushedStatisticsStrategy`: for the DriftGate's baseline, the
  statistics of the data the latest pushed model was trained on.
- `LatestPushedBaselineStrategy`: for the Evaluator's ``baseline_model``.
  Its ``candidate`` input is the Trainer's model channel (so it resolves
  after the Trainer); the candidate — fresh, or an older model reused from
  the cache — is excluded by id. So the candidate is never its own baseline
  (a cached old model cannot be re-pushed over a better served one), and an
  identical rerun resolves the same baseline as the first run: fully cached.

A ``candidate`` channel holds this run's artifact under the LocalDagRunner,
but every artifact its producer ever made under TFX's legacy drivers (the
AirflowDagRunner): there the candidate is the output of the producer's
latest execution (`current_candidates`), else every model would be excluded
and the Evaluator would compare with no baseline at all.
"""

from typing import Dict, List, Optional

from ml_metadata.proto import metadata_store_pb2
from tfx import types
from tfx.dsl.components.common import resolver

from noisy_rnn.schemas import contracts

# Set by the Evaluator and the ServingValidator.
CURRENT_MODEL_ID = contracts.CURRENT_MODEL_ID
BLESSED = contracts.BLESSED
KEYS = ("model", "model_blessing", "infra_blessing")
CANDIDATE = "candidate"
# The execution type of TFX's resolver nodes ("...common.resolver.Resolver").
RESOLVER_TYPE_SUFFIX = ".Resolver"


def current_candidates(store, candidates):
    """The ``candidates`` output by their producer's latest execution (a
    resolver's, which records what it passed on, is not a producer): all
    of them when there is one (the LocalDagRunner's channel: this run's
    artifact, fresh or reused from the cache), or no store to ask."""
    if len(candidates) <= 1 or store is None:
        return list(candidates)
    outputs = {}
    for event in store.get_events_by_artifact_ids([a.id for a in candidates]):
        if event.type == metadata_store_pb2.Event.OUTPUT:
            outputs.setdefault(event.execution_id, set()).add(
                event.artifact_id)
    resolvers = {t.id for t in store.get_execution_types()
                 if t.name.endswith(RESOLVER_TYPE_SUFFIX)}
    producers = [e.id for e in store.get_executions_by_id(list(outputs))
                 if e.type_id not in resolvers]
    if not producers:  # no lineage: every one stays excluded
        return list(candidates)
    latest = outputs[max(producers)]
    return [a for a in candidates if a.id in latest]


def _blessed_by_model_id(blessings):
    """``{model id: blessing}`` of the blessed ones (latest per model)."""
    by_id = {}
    for blessing in sorted(blessings, key=lambda a: a.id):
        if blessing.get_int_custom_property(BLESSED) == 1:
            by_id[blessing.get_int_custom_property(CURRENT_MODEL_ID)] = \
                blessing
    return by_id


class LatestPushedModelStrategy(resolver.ResolverStrategy):
    """The latest Model blessed by both the Evaluator and the
    ServingValidator; nothing if there is none.

    Input channels: ``model`` (Model), ``model_blessing`` (ModelBlessing),
    ``infra_blessing`` (InfraBlessing), and optionally ``candidate``
    (Models to exclude; this run's returned, see `current_candidates`).
    """

    def resolve_artifacts(
            self, store, input_dict: Dict[str, List[types.Artifact]]
    ) -> Optional[Dict[str, List[types.Artifact]]]:
        current = current_candidates(store, input_dict.get(CANDIDATE, []))
        excluded = {a.id for a in current}
        models = sorted((a for a in input_dict["model"]
                         if a.id not in excluded), key=lambda a: a.id)
        evaluated = _blessed_by_model_id(input_dict["model_blessing"])
        served = _blessed_by_model_id(input_dict["infra_blessing"])
        result = {key: [] for key in KEYS}
        for model in reversed(models):
            if model.id in evaluated and model.id in served:
                result = {"model": [model],
                          "model_blessing": [evaluated[model.id]],
                          "infra_blessing": [served[model.id]]}
                break
        if CANDIDATE in input_dict:
            # This run's only: the legacy driver records every output as an
            # event, and one artifact under two keys is refused by MLMD.
            result[CANDIDATE] = current
        return result


class LatestPushedBaselineStrategy(LatestPushedModelStrategy):
    """`LatestPushedModelStrategy` for a baseline: give it the Trainer's
    model as ``candidate``, which is never returned."""


STATISTICS = "statistics"


def _statistics_trained_on(store, model_id) -> set:
    """Ids of the ExampleStatistics of the examples that trained the model
    ``model_id``, followed through MLMD lineage: the Model's producing
    Trainer run -> its ``examples`` input -> the StatisticsGen run that read
    those examples -> its ``statistics`` output."""
    def key(event):
        return event.path.steps[0].key if event.path.steps else ""

    trainer_runs = [e.execution_id for e in store.get_events_by_artifact_ids(
        [model_id]) if e.type == metadata_store_pb2.Event.OUTPUT]
    examples = {e.artifact_id for e in store.get_events_by_execution_ids(
        trainer_runs) if e.type == metadata_store_pb2.Event.INPUT and
        key(e) == "examples"}
    readers = [e.execution_id for e in store.get_events_by_artifact_ids(
        list(examples)) if e.type == metadata_store_pb2.Event.INPUT]
    return {e.artifact_id for e in store.get_events_by_execution_ids(readers)
            if e.type == metadata_store_pb2.Event.OUTPUT and
            key(e) == STATISTICS}


class LatestPushedStatisticsStrategy(LatestPushedModelStrategy):
    """The statistics of the data the latest pushed model was trained on
    (for the DriftGate's baseline); nothing if no model was pushed, or if
    they are the ``candidate`` statistics themselves (an identical rerun:
    comparing data with itself says nothing, and the gate stays cached).

    Input channels: those of `LatestPushedModelStrategy`, ``statistics``
    (ExampleStatistics) and ``candidate`` (this run's statistics).
    """

    def resolve_artifacts(
            self, store, input_dict: Dict[str, List[types.Artifact]]
    ) -> Optional[Dict[str, List[types.Artifact]]]:
        pushed = super().resolve_artifacts(
            store, {k: v for k, v in input_dict.items() if k in KEYS})
        current = current_candidates(store, input_dict.get(CANDIDATE, []))
        candidates = {a.id for a in current}
        found = []
        if pushed["model"]:
            ids = _statistics_trained_on(store, pushed["model"][0].id)
            found = [a for a in sorted(input_dict[STATISTICS],
                                       key=lambda a: a.id)
                     if a.id in ids][-1:]
        if found and found[0].id in candidates:
            found = []
        # Every input key is returned (a missing one drops the result).
        return {**pushed, STATISTICS: found, CANDIDATE: current}
