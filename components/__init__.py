"""Custom TFX components, one folder each (tfx-addons layout)."""
