"""tfx-noisy-rnn: recurrent layers with trainable, noisy state, and a TFX
pipeline that trains and ships them.

The repo's top-level folders are mapped into one import namespace,
``noisy_rnn`` (``package_dir``), so site-packages gets ``noisy_rnn/`` only:

    layers/      -> noisy_rnn.layers      (TF/tf_keras only, usable alone)
    layers/keras3/    -> noisy_rnn.keras3 (Keras 3, any backend; extra
                                           ``[keras3]``)
    layers/arguments/ -> noisy_rnn.layer_arguments (no framework)
    schemas/     -> noisy_rnn.schemas     (specs, contracts; bundled datasets)
    data/        -> noisy_rnn.data        (the bundled datasets' CSVs)
    components/  -> noisy_rnn.components  (custom TFX components)
    pipeline/    -> noisy_rnn.pipeline    (definition, trainer/, ops/,
                                           serving/, the CLI)

``noisy_rnn`` itself is a namespace package (no ``__init__``): the version
is ``noisy_rnn.pipeline.__version__``. Build a wheel with ``pip wheel
--no-deps .``; install it with the lock as constraints (README). This file
declares packages and the console script, not the pinned versions (those
are in ``requirements.lock``).
"""

import re
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
FOLDERS = ("layers", "schemas", "data", "components", "pipeline")
VERSION = re.search(r'__version__ = "([^"]+)"',
                    (HERE / "pipeline" / "__init__.py").read_text()).group(1)


# Folders installed under a name of their own, outside ``noisy_rnn.layers``,
# so that importing them does not import TensorFlow (``noisy_rnn.layers``'
# ``__init__`` does): the Keras 3 layers (any backend), and the argument
# checks both kinds of layers share.
OWN_NAMES = {"layers/keras3": "noisy_rnn.keras3",
             "layers/arguments": "noisy_rnn.layer_arguments"}


def _packages():
    """``noisy_rnn.<folder>`` and its subpackages (folders with an
    ``__init__.py``; ``data`` is a package of data files only), except
    `OWN_NAMES`."""
    packages = {"noisy_rnn.data": "data"}
    for folder in FOLDERS:
        for init in sorted((HERE / folder).rglob("__init__.py")):
            relative = init.parent.relative_to(HERE).as_posix()
            for path, own in OWN_NAMES.items():
                if relative == path or relative.startswith(path + "/"):
                    name = own + relative[len(path):].replace("/", ".")
                    break
            else:
                name = "noisy_rnn." + relative.replace("/", ".")
            packages[name] = relative
    return packages


class BuildPyWithoutConverters(build_py):
    """Leaves ``data/convert_*.py`` (repo tools that rebuild the CSVs from
    the raw archives) out of the package: it ships the CSVs only."""

    def find_package_modules(self, package, package_dir):
        modules = super().find_package_modules(package, package_dir)
        if package == "noisy_rnn.data":
            return []
        return modules


PACKAGES = _packages()

setup(
    name="tfx-noisy-rnn",
    version=VERSION,
    description="GRU/LSTM layers with trainable initial state and noise on "
                "the carried state, trained and served with TFX.",
    python_requires="==3.10.*",
    packages=sorted(PACKAGES),
    package_dir=PACKAGES,
    # Bundled datasets: specs and schemas, addressable by name; their CSVs.
    package_data={
        "noisy_rnn.schemas": ["*/dataset.yaml", "*/schema.pbtxt"],
        "noisy_rnn.data": ["*.csv", "*/*.csv", "README.md"],
        # Beam's Flink job server, pinned (`noisy-rnn flink start`).
        "noisy_rnn.pipeline.ops": ["flink/pom.xml", "flink/StageNothing.java"],
    },
    include_package_data=False,
    cmdclass={"build_py": BuildPyWithoutConverters},
    install_requires=["tfx==1.16.0", "tensorflow==2.16.2", "tf-keras==2.16.0",
                      "pyyaml", "matplotlib",  # matplotlib: the run report
                      # TFRecord CRCs (SequenceExampleGen); TFX's Beam[gcp]
                      # needs it too
                      "google-crc32c"],
    # The Keras 3 layers' JAX backend (noisy_rnn.keras3 runs on TensorFlow's
    # too); pins are in requirements.lock.
    extras_require={"keras3": ["keras>=3", "jax[cpu]"]},
    entry_points={"console_scripts": [
        "noisy-rnn = noisy_rnn.pipeline.cli:main"]},
)
