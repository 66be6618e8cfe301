"""Module files the TFX components load by module path and run inside
Transform and the Trainer (and TFMA's metrics inside the Evaluator):
preprocessing, model architecture, input pipeline, training loop, warm
start, serving signatures, run_fn. Nothing here runs on the user's machine
outside a component."""
