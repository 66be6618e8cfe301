"""`noisy-rnn run`'s up-to-date check: the fingerprint of a run moves with
everything the run depends on, and a recorded run is offered again only
while it stays the same (the CLI side: tests/e2e/test_report.py)."""

import os
import shutil

import pytest
from repo_files import load_script

from noisy_rnn.pipeline.config import ModelConfig, PipelineConfig
from noisy_rnn.pipeline.ops import up_to_date

synthetic = load_script("data/synthetic.py")


@pytest.fixture(name="setup")
def fixture_setup(tmp_path):
    """A generated dataset (spec and CSV) and a config writing into
    ``out``."""
    spec = synthetic.write_dataset(tmp_path, count=20)

    def config(**options):
        return PipelineConfig(dataset=spec, output=str(tmp_path / "out"),
                              **options)
    return tmp_path, config


def touch_later(path):
    """Moves ``path``'s modification time a second on, contents kept."""
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))


def test_the_fingerprint_moves_with_everything_a_run_depends_on(setup):
    tmp_path, config = setup
    seen = [up_to_date.fingerprint(config())]
    assert up_to_date.fingerprint(config()) == seen[0]

    def changed(fingerprint):
        assert fingerprint not in seen
        seen.append(fingerprint)

    touch_later(tmp_path / "sines.csv")  # the data, as TFX fingerprints it
    changed(up_to_date.fingerprint(config()))
    with open(tmp_path / "dataset.yaml", "a") as f:  # the spec's text
        f.write("# a comment\n")
    changed(up_to_date.fingerprint(config()))
    changed(up_to_date.fingerprint(config(model=ModelConfig(units=8))))
    changed(up_to_date.fingerprint(config(min_accuracy=0.9)))
    out = tmp_path / "out"
    (out / "serving" / "sines" / "1").mkdir(parents=True)  # a pushed version
    changed(up_to_date.fingerprint(config()))
    (out / "metadata.sqlite").write_bytes(b"runs")  # MLMD
    changed(up_to_date.fingerprint(config()))
    touch_later(out / "metadata.sqlite")  # another run or a retrain
    changed(up_to_date.fingerprint(config()))
    frozen = config().frozen_schema_path  # the first push's schema
    os.makedirs(os.path.dirname(frozen))
    shutil.copy("schemas/japanese_vowels/schema.pbtxt", frozen)
    changed(up_to_date.fingerprint(config()))


def test_every_file_of_the_spans_folder_counts(setup):
    tmp_path, config = setup
    span = tmp_path / "in" / "span-1"
    span.mkdir(parents=True)
    shutil.copy(tmp_path / "sines.csv", span / "sines.csv")
    first = up_to_date.fingerprint(config(spans_dir=str(tmp_path / "in")))
    (tmp_path / "in" / "span-2").mkdir()
    shutil.copy(tmp_path / "sines.csv", tmp_path / "in" / "span-2" / "sines.csv")
    assert up_to_date.fingerprint(
        config(spans_dir=str(tmp_path / "in"))) != first


def test_a_recorded_run_is_offered_while_nothing_changes(setup):
    tmp_path, config = setup
    assert up_to_date.previous_run(config()) is None  # no record yet
    os.makedirs(tmp_path / "out")
    (tmp_path / "out" / "metadata.sqlite").write_bytes(b"runs")
    up_to_date.record_run(config(), ["pipeline finished in 1.0 s", "x"])
    record = up_to_date.previous_run(config())
    assert record["lines"] == ["pipeline finished in 1.0 s", "x"]
    assert up_to_date.previous_run(config(enable_cache=False)) is None
    assert up_to_date.previous_run(config(max_mae=1.0)) is None
    touch_later(tmp_path / "sines.csv")
    assert up_to_date.previous_run(config()) is None
    up_to_date.record_run(config(), ["again"])
    up_to_date.forget_run(config())
    assert up_to_date.previous_run(config()) is None
