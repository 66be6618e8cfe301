"""LatestBlessedBaselineStrategy: the latest blessed model that is not the
candidate.

TFX's LatestBlessedModelStrategy, resolved for the Evaluator after the
Trainer, returns the latest blessed model. When the Trainer was served from
the cache, that is the candidate itself: the Evaluator would then get a new
input (itself as baseline) and re-run on every identical rerun. Excluding the
newest model (the candidate) makes the baseline "the blessed model before
this one", which is the same on a rerun, so a rerun is fully cached.
"""

from tfx.dsl.input_resolution.strategies import latest_blessed_model_strategy


class LatestBlessedBaselineStrategy(
        latest_blessed_model_strategy.LatestBlessedModelStrategy):
    """Latest blessed Model other than the newest Model (the candidate)."""

    def _resolve(self, input_dict, model_channel_key,
                 model_blessing_channel_key):
        models = sorted(input_dict[model_channel_key], key=lambda a: a.id)
        without_candidate = dict(input_dict)
        without_candidate[model_channel_key] = models[:-1]
        return super()._resolve(without_candidate, model_channel_key,
                                model_blessing_channel_key)


