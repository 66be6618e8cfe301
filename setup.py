"""tfx-noisy-rnn: recurrent layers with trainable, noisy state, and a TFX
pipeline that trains and ships them.

Install into the repo's venv with ``make venv`` (pinned stack from
``requirements.lock``); this file declares the packages and the console
script, not the dependency versions.
"""

import re
from pathlib import Path

from setuptools import find_packages, setup

VERSION = re.search(r'__version__ = "([^"]+)"',
                    Path(__file__).with_name("pipeline").joinpath(
                        "__init__.py").read_text()).group(1)

setup(
    name="tfx-noisy-rnn",
    version=VERSION,
    description="GRU/LSTM layers with trainable initial state and noise on "
                "the carried state, trained and served with TFX.",
    python_requires="==3.10.*",
    # Subpackages too: with --setup_file, Beam workers install this sdist.
    packages=find_packages(include=["layers", "pipeline", "components",
                                    "components.*", "schemas"]),
    install_requires=["tfx==1.16.0", "tensorflow==2.16.2", "tf-keras==2.16.0",
                      "pyyaml"],
    entry_points={"console_scripts": ["noisy-rnn = pipeline.cli:main"]},
)
