"""Serving the pushed models: TF Serving deployment files (`deploy`) and the
prediction client (`client`). Runs on the user's machine, never inside a
component."""
