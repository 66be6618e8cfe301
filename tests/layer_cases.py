"""Cases both layer families (tf_keras `noisy_rnn.layers`, Keras 3
`noisy_rnn.keras3`) are tested on, so they refuse the same mistakes."""

# (constructor arguments over units=8, the argument the error must name)
BAD_LAYER_ARGUMENTS = [
    ({"units": 0}, "units"),
    ({"units": -3}, "units"),
    ({"noise": "additive", "noise_std": -0.1}, "noise_std"),
    ({"noise": "additive", "noise_std": float("nan")}, "noise_std"),
    ({"noise": "additive", "noise_std": 0.0, "noise_std_trainable": True},
     "noise_std"),
    ({"noise": "uniform"}, "noise"),
    ({"initial_state_mode": "random"}, "initial_state_mode"),
]
