"""The carried-state layers' arguments and input checks, free of any
framework, so the tf_keras layers (`noisy_rnn.layers`) and the Keras 3 ones
(`noisy_rnn.keras3`) accept the same arguments, apply the same preset
defaults and refuse the same mistakes with the same messages.

Installed as ``noisy_rnn.layer_arguments`` (``setup.py``): importing it
imports neither TensorFlow nor Keras.
"""

import math

NOISE_FAMILIES = ("additive", "multiplicative")
INITIAL_STATE_MODES = ("zeros", "trainable")


def inverse_softplus(value):
    """Returns ``x`` with ``softplus(x) == value`` for a positive float."""
    return math.log(math.expm1(value))


def validate_carried_state_args(owner, units=None, initial_state_mode="zeros",
                                noise=None, noise_std=0.1,
                                noise_std_trainable=False):
    """Raises ValueError naming ``owner`` and the argument at fault.

    Args:
      owner: how to name the layer or cell in the message, e.g.
        ``"NoisyGRU 'encoder'"``.
      units, initial_state_mode, noise, noise_std, noise_std_trainable: the
        constructor arguments of the same names.
    """
    def fail(argument, problem):
        raise ValueError(f"{owner}: argument `{argument}` {problem}")

    if units is not None and (isinstance(units, bool) or
                              not isinstance(units, int) or units <= 0):
        fail("units", f"must be a positive integer, got {units!r}")
    if initial_state_mode not in INITIAL_STATE_MODES:
        fail("initial_state_mode",
             f"must be one of {INITIAL_STATE_MODES}, got {initial_state_mode!r}")
    if noise is None:
        return
    if noise not in NOISE_FAMILIES:
        fail("noise", f"must be None or one of {NOISE_FAMILIES}, got {noise!r}")
    if isinstance(noise_std, bool) or not isinstance(noise_std, (int, float)):
        fail("noise_std", f"must be a float, got {noise_std!r}")
    if math.isnan(noise_std) or math.isinf(noise_std) or noise_std < 0:
        fail("noise_std", f"must be a finite float >= 0, got {noise_std!r}")
    if noise_std_trainable and noise_std == 0:
        fail("noise_std", "must be > 0 when `noise_std_trainable=True` "
             "(a softplus-parametrised std cannot start at 0)")


def validate_layer_args(layer_class, kwargs, units, **carried_state_args):
    """`validate_carried_state_args` for a layer's constructor, naming the
    layer by its class and its ``name`` keyword argument, if given."""
    name = kwargs.get("name")
    owner = f"{layer_class.__name__} '{name}'" if name else \
        layer_class.__name__
    validate_carried_state_args(owner, units=units, **carried_state_args)


def validate_std_prior_args(prior_std, strength):
    """Raises ValueError naming the `StdPriorRegularizer` argument at fault:
    ``prior_std`` must be a finite positive float, ``strength`` a finite
    non-negative one."""
    for name, value, lowest in (("prior_std", prior_std, None),
                                ("strength", strength, 0.0)):
        ok = isinstance(value, (int, float)) and math.isfinite(value)
        ok = ok and (value > 0 if lowest is None else value >= lowest)
        if not ok:
            raise ValueError(f"StdPriorRegularizer: argument `{name}` must "
                             f"be a finite {'positive' if lowest is None else 'non-negative'} "
                             f"float, got {value!r}")


def check_sequence_input(owner, shape, dtype_name, is_floating):
    """Raises ValueError naming ``owner`` when a recurrent layer's input is
    not rank 3 or not float. ``shape`` is a tuple (None for unknown
    dimensions) or None for an unknown rank; ``shape`` is printed as
    ``(2, 5)``."""
    if shape is not None and len(shape) != 3:
        shown = "(" + ", ".join(str(d) for d in shape) + \
            ("," if len(shape) == 1 else "") + ")"
        raise ValueError(
            f"{owner}: argument `inputs` must have rank 3 (batch, time, "
            f"features), got shape {shown}")
    if not is_floating:
        raise ValueError(f"{owner}: argument `inputs` must be a float "
                         f"tensor, got dtype {dtype_name}")


def trainable_initial_state_defaults(kwargs):
    """The ``TrainableInitialState*`` presets' defaults, under the user's
    ``kwargs``."""
    kwargs.setdefault("initial_state_mode", "trainable")
    return kwargs


def noisy_defaults(kwargs, noise_std, trainable):
    """The noisy presets' defaults (additive noise of ``noise_std``, trained
    or fixed), under the user's ``kwargs``."""
    kwargs.setdefault("noise", "additive")
    kwargs.setdefault("noise_std_trainable", trainable)
    kwargs.setdefault("noise_std", noise_std)
    return kwargs
