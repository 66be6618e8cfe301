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
    artifact = out / "pipeline_root" / "Transform" / "transform_graph" / "7"
    artifact.mkdir(parents=True)  # an artifact, then its removal
    changed(up_to_date.fingerprint(config()))
    shutil.rmtree(artifact)
    changed(up_to_date.fingerprint(config()))
    assert up_to_date.fingerprint(config(enable_cache=False)) == seen[-1]


def test_every_file_of_the_spans_folder_counts(setup):
    tmp_path, config = setup
    span = tmp_path / "in" / "span-1"
    span.mkdir(parents=True)
    shutil.copy(tmp_path / "sines.csv", span / "sines.csv")
    first = up_to_date.fingerprint(config(spans_dir=str(tmp_path / "in")))
    (tmp_path / "in" / "span-2").mkdir()
    shutil.copy(tmp_path / "sines.csv", tmp_path / "in" / "span-2" / "sines.csv")
    second = up_to_date.fingerprint(config(spans_dir=str(tmp_path / "in")))
    assert second != first
    elsewhere = tmp_path / "elsewhere"  # a span linked in, as TFX reads it
    elsewhere.mkdir()
    shutil.copy(tmp_path / "sines.csv", elsewhere / "sines.csv")
    os.symlink(elsewhere, tmp_path / "in" / "span-3")
    assert up_to_date.fingerprint(
        config(spans_dir=str(tmp_path / "in"))) != second


def test_a_recorded_run_is_offered_while_nothing_changes(setup):
    tmp_path, config = setup
    assert up_to_date.previous_run(config()) is None  # no record yet
    os.makedirs(tmp_path / "out")
    (tmp_path / "out" / "metadata.sqlite").write_bytes(b"runs")
    before = up_to_date.fingerprint(config())
    assert up_to_date.record_run(config(), ["pipeline finished", "x"],
                                 before)
    record = up_to_date.previous_run(config())
    assert record["lines"] == ["pipeline finished", "x"]
    assert up_to_date.previous_run(config(enable_cache=False)) is None
    assert up_to_date.previous_run(config(max_mae=1.0)) is None
    touch_later(tmp_path / "sines.csv")
    assert up_to_date.previous_run(config()) is None
    up_to_date.record_run(config(), ["again"], up_to_date.fingerprint(
        config()))
    up_to_date.forget_run(config())
    assert up_to_date.previous_run(config()) is None
    for unreadable in ("[]", '{"fingerprint": {}}', "{"):
        (tmp_path / "out" / up_to_date.RECORD).write_text(unreadable)
        assert up_to_date.previous_run(config()) is None


def test_a_run_that_changed_what_the_next_reads_is_not_recorded(setup):
    """The next run would execute again under TFX: after a first push that
    froze the schema, and after any push when warm-starting (the Trainer's
    base model). A push without warm start changes nothing it reads."""
    tmp_path, config = setup
    out = tmp_path / "out"
    out.mkdir()
    before = up_to_date.fingerprint(config())
    (out / "serving" / "sines" / "1").mkdir(parents=True)
    assert up_to_date.record_run(config(), ["pushed"], before)
    before = up_to_date.fingerprint(config(warm_start=True))
    (out / "serving" / "sines" / "2").mkdir(parents=True)
    assert not up_to_date.record_run(config(warm_start=True), ["pushed"],
                                     before)
    assert up_to_date.previous_run(config(warm_start=True)) is None
    before = up_to_date.fingerprint(config())
    frozen = config().frozen_schema_path
    os.makedirs(os.path.dirname(frozen))
    shutil.copy("schemas/japanese_vowels/schema.pbtxt", frozen)
    assert not up_to_date.record_run(config(), ["froze"], before)
    assert up_to_date.previous_run(config()) is None
