"""The package holds together as one namespace, ``noisy_rnn``: no bare
imports of the repo's folders, module paths TFX loads by name resolve,
bundled datasets are found by name, contracts agree on both sides, and the
layers' docstring examples run."""

import ast
import doctest
import importlib
import pathlib

import pytest
import tensorflow as tf
import tf_keras

from noisy_rnn import layers
from noisy_rnn.components.serving_validator import clean_check
from noisy_rnn.pipeline import config as config_lib
from noisy_rnn.pipeline import orchestrators
from noisy_rnn.pipeline import pipeline as pipeline_lib
from noisy_rnn.schemas import contracts
from noisy_rnn.schemas.dataset_spec import (SpecError, bundled_datasets,
                                            load_spec, resolve_dataset)

REPO = pathlib.Path(__file__).resolve().parents[2]
FOLDERS = ("layers", "pipeline", "components", "schemas")
# Every folder with Python code of ours (the user's top level + scripts).
CODE = FOLDERS + ("tests", "bench", "deploy", "data")


def _bare_imports(path):
    """``(line, module)`` of each import of a repo folder as a top-level
    package (``import layers``, ``from pipeline.x import y``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        else:
            continue
        for name in names:
            if name.split(".")[0] in FOLDERS:
                yield node.lineno, name


def test_no_bare_import_of_a_repo_folder_anywhere():
    files = [p for folder in CODE for p in (REPO / folder).rglob("*.py")]
    assert len(files) > 50
    found = [f"{p.relative_to(REPO)}:{line}: {name}" for p in files
             for line, name in _bare_imports(p)]
    assert not found, "import through noisy_rnn instead:\n" + "\n".join(found)


def test_the_scan_catches_a_bare_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom pipeline.config import X\n"
                      "import layers.noise as n\nfrom noisy_rnn import "
                      "layers\nfrom . import pipeline\n")
    assert list(_bare_imports(sample)) == [(2, "pipeline.config"),
                                           (3, "layers.noise")]


@pytest.mark.parametrize("dotted", [
    config_lib.PipelineConfig.__dataclass_fields__["run_fn"].default,
    pipeline_lib.PREPROCESSING_FN,
    pipeline_lib.METRICS_MODULE + ".SparseCategoricalAccuracy",
])
def test_module_paths_that_tfx_loads_by_name_resolve(dotted):
    assert dotted.startswith("noisy_rnn.")
    module, name = dotted.rsplit(".", 1)
    assert callable(getattr(importlib.import_module(module), name))


def test_registered_keras_names_keep_the_noisy_rnn_package():
    for name in layers.__all__:
        assert tf_keras.saving.get_registered_name(getattr(layers, name)) == \
            f"noisy_rnn>{name}"


def test_keras3_layers_register_under_the_same_names():
    import keras  # pylint: disable=import-outside-toplevel

    from noisy_rnn import keras3  # pylint: disable=import-outside-toplevel
    for name in keras3.__all__:
        assert keras.saving.get_registered_name(getattr(keras3, name)) == \
            f"noisy_rnn>{name}"


def test_bundled_datasets_are_found_by_name_path_or_folder():
    assert bundled_datasets() == ["co2", "japanese_vowels"]
    by_name = load_spec("co2")
    assert by_name.name == "co2"
    assert pathlib.Path(by_name.csv).is_file()
    assert resolve_dataset(str(pathlib.Path(by_name.path).parent)) == \
        by_name.path
    assert resolve_dataset(by_name.path) == by_name.path


def test_unknown_dataset_lists_the_bundled_names(tmp_path):
    with pytest.raises(SpecError, match=r"dataset 'nosuch': no such spec "
                                        r"file, and not a bundled dataset "
                                        r"\(bundled: co2, japanese_vowels\)"):
        config_lib.PipelineConfig(dataset="nosuch", output=str(tmp_path))


def test_clean_check_copies_of_the_contracts_are_equal():
    """The clean process cannot import the project: its literals must match
    what the Trainer and the ServingValidator's executor write."""
    assert clean_check.WARMUP_FILE == contracts.WARMUP_FILE
    source = pathlib.Path(clean_check.__file__).read_text()
    for name in (contracts.SERVING_DEFAULT, contracts.SERVING_SEQUENCES):
        assert f'"{name}"' in source
    assert clean_check.PROJECT_PACKAGES == ("noisy_rnn",)


def test_compiled_pipelines_read_bundled_files_from_the_image(tmp_path):
    config = config_lib.PipelineConfig(dataset="co2", output="gs://b/co2")
    moved = orchestrators.in_image(config, "/img/noisy_rnn")
    assert moved.spec.path == "/img/noisy_rnn/schemas/co2/dataset.yaml"
    assert moved.spec.schema == "/img/noisy_rnn/schemas/co2/schema.pbtxt"
    assert moved.spec.csv == "/img/noisy_rnn/data/co2/co2.csv"
    own = tmp_path / "dataset.yaml"
    (tmp_path / "co2.csv").write_bytes(
        pathlib.Path(load_spec("co2").csv).read_bytes())
    own.write_text(pathlib.Path(load_spec("co2").path).read_text().replace(
        "../../data/co2/co2.csv", "co2.csv"))
    with pytest.raises(ValueError, match="spec .* is not a bundled dataset "
                                         "file"):
        orchestrators.in_image(config_lib.PipelineConfig(
            dataset=str(own), output="gs://b/own"), "/img/noisy_rnn")
    # Data read from spans on shared storage: the local spec and CSV only
    # name columns; a curated schema must still reach the image.
    from_spans = orchestrators.in_image(config_lib.PipelineConfig(
        dataset=str(own), output="gs://b/own", spans_dir="gs://b/in"),
        "/img/noisy_rnn")
    assert from_spans.spec.csv == str(tmp_path / "co2.csv")
    (tmp_path / "schema.pbtxt").write_text("")
    with pytest.raises(ValueError, match="schema .* is not a bundled"):
        orchestrators.in_image(config_lib.PipelineConfig(
            dataset=str(own), output="gs://b/own", spans_dir="gs://b/in"),
            "/img/noisy_rnn")


@pytest.mark.parametrize("module", ["noise", "cells", "recurrent",
                                    "presets"])
def test_layers_docstring_examples_run(module):
    module = importlib.import_module(f"noisy_rnn.layers.{module}")
    extra = {"tf": tf, "tf_keras": tf_keras,
             **{name: getattr(layers, name) for name in layers.__all__}}
    tf_keras.utils.set_random_seed(0)
    result = doctest.testmod(module, extraglobs=extra,
                             optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_keras3_docstring_examples_run():
    import numpy as np  # pylint: disable=import-outside-toplevel

    from noisy_rnn.keras3 import recurrent  # pylint: disable=import-outside-toplevel
    result = doctest.testmod(recurrent, extraglobs={"np": np},
                             optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
