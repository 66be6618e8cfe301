"""Warm start: the weights of the latest pushed model, when they fit."""

import os

import tensorflow as tf

from noisy_rnn.schemas import contracts


def warm_start(model, base_model):
    """Loads the weights of ``base_model`` (a previous Trainer's
    ``Format-Serving`` folder, or None) into ``model``. Returns
    ``{"base_model", "used", "reason"}``: an architecture that no longer
    matches means training from scratch, said so, not a failure."""
    if not base_model:
        return {"base_model": None, "used": False,
                "reason": "no pushed model yet: trained from scratch"}
    weights = os.path.join(os.path.dirname(base_model),
                           contracts.WARM_START_WEIGHTS)
    if not tf.io.gfile.exists(weights + ".index"):
        return {"base_model": base_model, "used": False,
                "reason": f"no warm-start weights at {weights}: trained "
                          f"from scratch"}
    try:
        model.load_weights(weights)
    except (ValueError, tf.errors.OpError) as error:
        return {"base_model": base_model, "used": False,
                "reason": f"weights do not fit this model ("
                          f"{str(error).splitlines()[0]}): trained from "
                          f"scratch"}
    return {"base_model": base_model, "used": True,
            "reason": "started from the latest pushed model"}
