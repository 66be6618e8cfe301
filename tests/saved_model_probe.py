"""Loads a SavedModel the way TF Serving does: TensorFlow only, no project.

Run as ``python -I saved_model_probe.py MODEL_DIR INPUTS OUTPUTS.npy [KEY]``
where INPUTS is a ``.npy`` float array or a gzipped TFRecord file of
serialized tf.Examples. The project's packages are made unimportable first
(they may be installed in the same venv), so the model must stand on its own
graph. Prints a JSON line: ``{"project_importable": bool, "random_ops": [...],
"output_keys": [...]}`` and saves the ``serving_default`` output KEY (default:
the first in sorted order) to OUTPUTS.npy.
"""

import importlib.abc
import json
import os
import sys

PROJECT_PACKAGES = ("noisy_rnn",)


class _BlockProject(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in PROJECT_PACKAGES:
            raise ImportError(f"{name} is blocked in this clean process")
        return None


sys.meta_path.insert(0, _BlockProject())
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def op_types(concrete_function):
    graph_def = concrete_function.graph.as_graph_def()
    return ({node.op for node in graph_def.node} |
            {node.op for fn in graph_def.library.function
             for node in fn.node_def})


def load_inputs(path):
    if path.endswith(".npy"):
        return tf.constant(np.load(path))
    records = tf.data.TFRecordDataset([path], compression_type="GZIP")
    return tf.constant([record.numpy() for record in records])


def main(model_dir, inputs_path, outputs_path, key=None):
    try:
        from noisy_rnn import layers  # noqa: F401
        project_importable = True
    except ImportError:
        project_importable = False
    signature = tf.saved_model.load(model_dir).signatures["serving_default"]
    random_ops = sorted(op for op in op_types(signature) if "Random" in op)
    outputs = signature(load_inputs(inputs_path))
    keys = sorted(outputs)
    np.save(outputs_path, outputs[key or keys[0]].numpy())
    print(json.dumps({"project_importable": project_importable,
                      "random_ops": random_ops, "output_keys": keys}))


if __name__ == "__main__":
    main(*sys.argv[1:5])
