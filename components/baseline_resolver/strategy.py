"""Model resolution by what was *pushed*: the latest model blessed by both
the Evaluator (ModelBlessing) and the ServingValidator (InfraBlessing) —
exactly the models the Pusher pushed, i.e. what TF Serving serves.

- `LatestPushedModelStrategy`: for the Trainer's ``base_model`` (warm start),
  resolved before the Trainer runs.
- `LatestPushedBaselineStrategy`: for the Evaluator's ``baseline_model``,
  resolved after the Trainer (make the resolver depend on it): the newest
  Model is then this run's candidate (fresh, or reused from the cache) and is
  excluded, so the candidate is never its own baseline and an identical rerun
  resolves the same baseline as the first run: fully cached.
"""

from typing import Dict, List, Optional

from tfx import types
from tfx.dsl.components.common import resolver

CURRENT_MODEL_ID = "current_model_id"   # set by Evaluator and ServingValidator
BLESSED = "blessed"
KEYS = ("model", "model_blessing", "infra_blessing")


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
    ``infra_blessing`` (InfraBlessing).
    """

    exclude_newest = False

    def resolve_artifacts(
            self, store, input_dict: Dict[str, List[types.Artifact]]
    ) -> Optional[Dict[str, List[types.Artifact]]]:
        models = sorted(input_dict["model"], key=lambda a: a.id)
        if self.exclude_newest:
            models = models[:-1]
        evaluated = _blessed_by_model_id(input_dict["model_blessing"])
        served = _blessed_by_model_id(input_dict["infra_blessing"])
        for model in reversed(models):
            if model.id in evaluated and model.id in served:
                return {"model": [model],
                        "model_blessing": [evaluated[model.id]],
                        "infra_blessing": [served[model.id]]}
        return {key: [] for key in KEYS}


class LatestPushedBaselineStrategy(LatestPushedModelStrategy):
    """`LatestPushedModelStrategy` without the newest Model (the candidate,
    when resolved after the Trainer)."""

    exclude_newest = True
