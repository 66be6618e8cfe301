"""Dataset specifications (``<name>/dataset.yaml`` + ``schema.pbtxt``)."""
