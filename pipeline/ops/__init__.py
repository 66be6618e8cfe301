"""What runs on the user's machine around the pipeline: the local runner
and its progress and run records, retraining on new spans, span folders,
and the plain-Keras demo. Nothing here runs inside a component."""
