"""The resolvers of the latest pushed model (warm start, baseline), on TFX
artifacts as MLMD hands them over."""

from tfx.types import standard_artifacts

from noisy_rnn.components.baseline_resolver import (
    LatestPushedBaselineStrategy, LatestPushedModelStrategy)


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
