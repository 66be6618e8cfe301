"""SequenceExampleGen: the executor on real CSVs (Beam, DirectRunner), and
every bad input named by file, line and column."""

import csv
import glob
import io
import json
import os
import pathlib
import time

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pytest
import tensorflow as tf
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from noisy_rnn.components.sequence_example_gen import (SequenceExampleGen,
                                                       executor)
from noisy_rnn.components.sequence_example_gen import examples as rules
from noisy_rnn.components.sequence_example_gen import tfrecords
from noisy_rnn.components.sequence_example_gen.examples import DataError
from noisy_rnn.schemas.dataset_spec import decode_csv, load_spec


def make_spec(tmp_path, rows, mode="sequences", split="{column: split}",
              task="classification", extra=""):
    with open(tmp_path / "data.csv", "w", newline="") as f:
        csv.writer(f).writerows([["id", "t", "a", "b", "y", "split"], *rows])
    (tmp_path / "dataset.yaml").write_text(
        f"name: toy\ncsv: data.csv\nmode: {mode}\nsequence_id: id\nstep: t\n"
        f"features: [a, b]\nlabel: y\ntask: {task}\nsplit: {split}\n{extra}")
    return load_spec(tmp_path / "dataset.yaml")


def exec_properties(spec, **component_args):
    """The component's exec properties as the launcher hands them over."""
    component = SequenceExampleGen(dataset=spec, **component_args)
    return {key: proto_utils.proto_to_json(value)
            if hasattr(value, "DESCRIPTOR") else value
            for key, value in component.exec_properties.items()}


def run_executor(spec, tmp_path, **component_args):
    """Runs the real executor; returns (examples per split, report)."""
    properties = exec_properties(spec, **component_args)
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    os.makedirs(examples.uri)
    executor.Executor().Do({}, {"examples": [examples]}, properties)
    out = {}
    for split in ("train", "validation", "eval"):
        files = glob.glob(os.path.join(examples.uri, f"Split-{split}", "*"))
        out[split] = [tf.train.Example.FromString(r.numpy()) for r in
                      tf.data.TFRecordDataset(files, compression_type="GZIP")]
    with open(os.path.join(examples.uri, executor.REPORT_FILE)) as f:
        return out, json.load(f)


def convert(spec):
    """Runs the executor's per-bucket functions (what Beam maps) in-line."""
    buckets = {}
    for bucket, pieces in executor._read_chunks(spec.csv, spec):
        buckets.setdefault(bucket, []).append(pieces)
    return [item for group in buckets.items()
            for item in executor._bucket_examples(group, spec)]


def floats(example, name):
    return list(example.features.feature[name].float_list.value)


def test_sequences_are_grouped_ordered_by_step_and_split_by_column(tmp_path):
    rows = [["s1", 1, 0.2, 2, "x", "train"], ["s2", 0, 5, 6, "z", "eval"],
            ["s1", 0, 0.1, 1, "x", "train"], ["s2", 1, 7, 8, "z", "eval"],
            ["s1", 2, 0.3, 3, "x", "train"]]
    out, report = run_executor(make_spec(tmp_path, rows), tmp_path)
    assert report == {"examples_eval": 1, "examples_train": 1, "sequences": 2}
    [train], [evaluation] = out["train"], out["eval"]
    assert floats(train, "a") == pytest.approx([0.1, 0.2, 0.3])
    assert floats(train, "b") == [1, 2, 3]
    assert train.features.feature["y"].bytes_list.value == [b"x"]
    assert floats(evaluation, "a") == [5, 7]


def test_sequences_split_by_time_put_the_latest_in_eval(tmp_path):
    rows = [[f"s{i}", t, i, t, "x", ""] for i in range(10) for t in range(3)]
    spec = make_spec(tmp_path, rows, split="{eval_fraction: 0.3}")
    out, report = run_executor(spec, tmp_path)
    assert (report["examples_train"], report["examples_eval"]) == (7, 3)
    assert sorted(floats(e, "a")[0] for e in out["eval"]) == [7, 8, 9]


def test_windows_split_by_time_never_leak_the_future(tmp_path):
    rows = [["s", t, t, -t, 10 * t, ""] for t in range(20)]
    rows.remove(["s", 7, 7, -7, 70, ""])  # a gap: windows over it are skipped
    spec = make_spec(tmp_path, rows, mode="windows", task="regression",
                     split="{eval_fraction: 0.25}",
                     extra="window: 3\nhorizon: 1\n")
    out, report = run_executor(spec, tmp_path)
    # 19 rows -> 16 windows of 3 + horizon 1; 3 of them span the gap.
    assert report["skipped_windows"] == 3
    assert report["examples_train"] + report["examples_eval"] == 13
    last_train = max(e.features.feature["target_step"].int64_list.value[0]
                     for e in out["train"])
    first_eval = min(e.features.feature["target_step"].int64_list.value[0]
                     for e in out["eval"])
    assert last_train < first_eval
    window = min(out["eval"], key=lambda e: e.features.feature[
        "target_step"].int64_list.value[0])
    target = window.features.feature["target_step"].int64_list.value[0]
    assert floats(window, "a") == [target - 3, target - 2, target - 1]
    assert floats(window, "y") == [10 * target]


@pytest.mark.parametrize("rows, message", [
    ([["s", 0, "abc", 1, "x", "train"], ["s", 1, 2, 1, "x", "train"]],
     r"line 2, column 'a': non-numeric value 'abc'"),
    ([["s", 0, "", 1, "x", "train"], ["s", 1, 2, 1, "x", "train"]],
     r"line 2, column 'a': missing"),
    ([["s", 0, 1, 1, "x", "train"]],
     r"line 2: sequence 's' has 1 step; a sequence needs at least 2"),
    ([["s", 0, 1, 1, "x", "train"], ["s", 1, 1, 1, "w", "train"]],
     r"line 3, column 'y': label 'w' differs from 'x' \(line 2\)"),
    ([["s", 0, 1, 1, "x", "train"], ["s", 0, 2, 1, "x", "train"]],
     r"line 3, column 't': duplicate step 0 in sequence 's' \(also on line 2\)"),
    ([["s", 0, 1, 1, "x", "test"], ["s", 1, 2, 1, "x", "test"]],
     r"line 2, column 'split': unknown split value 'test'"),
    ([["s", "zero", 1, 1, "x", "train"], ["s", 1, 2, 1, "x", "train"]],
     r"line 2, column 't': step must be an integer"),
    ([["s", 0, 1, 1, "x", "train"], ["s", 1, 2, 1]],
     r"line 3: 4 fields, the header has 6"),
])
def test_bad_rows_are_named_by_file_line_and_column(tmp_path, rows, message):
    spec = make_spec(tmp_path, rows)
    with pytest.raises(DataError, match=message) as error:
        convert(spec)
    assert spec.csv in str(error.value)


def test_window_longer_than_a_series_is_named(tmp_path):
    rows = [["s", t, t, t, t, "train"] for t in range(4)]
    spec = make_spec(tmp_path, rows, mode="windows", task="regression",
                     extra="window: 4\nhorizon: 1\n")
    with pytest.raises(DataError, match=r"line 2: series 's' has 4 steps, "
                                        r"fewer than window \+ horizon = 5"):
        convert(spec)


def test_a_split_left_empty_stops_the_executor(tmp_path):
    rows = [["s", t, t, t, "x", "train"] for t in range(3)]
    with pytest.raises(DataError, match=r"produced no eval examples"):
        run_executor(make_spec(tmp_path, rows), tmp_path)


def test_spec_round_trips_through_the_component_config():
    spec = load_spec("schemas/japanese_vowels/dataset.yaml")
    assert executor.spec_from_exec_properties(exec_properties(spec)) == spec


def test_every_span_file_is_held_to_the_spec_columns(tmp_path):
    """A later span renames a column: the executor names file, line 1 and
    the spec key (the spec's own CSV was fine when it was loaded)."""
    rows = [["s", t, t, t, "x", "train" if t < 3 else "eval"]
            for t in range(5)]
    spec = make_spec(tmp_path, rows)
    (tmp_path / "span-2").mkdir()
    with open(tmp_path / "span-2" / "data.csv", "w", newline="") as f:
        csv.writer(f).writerows([["id", "t", "a", "B", "y", "split"],
                                 *rows])
    component = SequenceExampleGen(dataset=spec, input_base=str(tmp_path),
                                   input_pattern="span-2/*.csv")
    properties = {key: proto_utils.proto_to_json(value)
                  if hasattr(value, "DESCRIPTOR") else value
                  for key, value in component.exec_properties.items()}
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    os.makedirs(examples.uri)
    with pytest.raises(DataError, match=r"key 'features': column 'b' is not "
                                        r"in the header \(line 1\) of "
                                        r".*span-2/data.csv"):
        executor.Executor().Do({}, {"examples": [examples]}, properties)


def test_a_span_file_that_is_not_utf8_is_named_by_file_and_line(tmp_path):
    """Binary garbage or a legacy encoding in a later span: one DataError
    naming the file, the line and the byte, not a bare codec error."""
    rows = [["s", t, t, t, "x", "train" if t < 3 else "eval"]
            for t in range(5)]
    spec = make_spec(tmp_path, rows)
    (tmp_path / "span-2").mkdir()
    text = "id,t,a,b,y,split\ns,0,0,0,x,train\ns,1,1,1,é,train\n"
    (tmp_path / "span-2" / "data.csv").write_bytes(text.encode("cp1252"))
    with pytest.raises(DataError, match=r".*span-2/data.csv: line 3: not "
                                        r"valid UTF-8 \(byte 0xe9 at "
                                        r"character 9\); save the file as "
                                        r"UTF-8 text"):
        list(executor._read_chunks(str(tmp_path / "span-2" / "data.csv"),
                                 spec))


def sequence_ids(examples):
    return sorted(e.features.feature["sequence_id"].bytes_list.value[0]
                  .decode() for e in examples)


def test_validation_sequences_are_carved_from_train_by_class(tmp_path):
    """Sequences mode: 15 % of each class's training sequences (rounded)
    move to the validation split, eval is untouched, and the choice follows
    the seed, not the file order."""
    rows = [[f"{kind}{i}", t, i, t, kind, "eval" if i >= 20 else "train"]
            for kind in "xy" for i in range(24) for t in range(3)]
    spec = make_spec(tmp_path, rows)
    out, report = run_executor(spec, tmp_path / "a", validation_fraction=0.15)
    assert report == {"examples_train": 34, "examples_validation": 6,
                      "examples_eval": 8, "sequences": 48}
    validation = sequence_ids(out["validation"])
    assert [i[0] for i in validation].count("x") == 3
    assert not set(validation) & set(sequence_ids(out["train"]))
    assert sequence_ids(out["eval"]) == sorted(
        f"{k}{i}" for k in "xy" for i in range(20, 24))
    again, _ = run_executor(spec, tmp_path / "b", validation_fraction=0.15)
    assert sequence_ids(again["validation"]) == validation
    reseeded, _ = run_executor(spec, tmp_path / "c", validation_fraction=0.15,
                               seed=1)
    assert sequence_ids(reseeded["validation"]) != validation


def chosen_ids(keys, fraction, seed):
    """The ids of the training sequences ``keys`` whose validation slice
    `rules.validation_cutoffs` describes (the executor's `in_validation`
    test, per sequence)."""
    keys = list(keys)
    cutoffs = rules.validation_cutoffs(keys, fraction, seed)
    return {sequence_id for sequence_id, group in keys
            if rules.in_validation(cutoffs, seed, sequence_id, group)}


def test_many_small_classes_still_give_the_validation_slice_its_share():
    """52 classes of 2 training sequences (the archive's PigCVP): 15 % of
    each rounds to none, yet the slice gets 15 % of all (16), one from each
    of 16 classes, never a class's last sequence; classes big enough keep
    their own rounded share; deterministic and seeded."""
    keys = [(f"s{c}-{i}", str(c)) for c in range(52) for i in range(2)]
    chosen = chosen_ids(keys, 0.15, seed=0)
    assert len(chosen) == 16
    assert len({i.split("-")[0] for i in chosen}) == 16
    assert chosen_ids(reversed(keys), 0.15, 0) == chosen
    assert chosen_ids(keys, 0.15, 1) != chosen
    # Half of the sequences asked for: still one left in every class.
    halves = chosen_ids(keys, 0.5, seed=0)
    assert len(halves) == 52 and len({i.split("-")[0] for i in halves}) == 52
    # Two classes of 20 (3 each) and 10 singletons (never taken): 6 of 50
    # by class, topped up to 8 (15 % of 50, rounded) from the big ones.
    mixed = ([(f"a{i}", "a") for i in range(20)] +
             [(f"b{i}", "b") for i in range(20)] +
             [(f"c{i}", f"c{i}") for i in range(10)])
    chosen = chosen_ids(mixed, 0.15, seed=0)
    assert len(chosen) == 8 and not any(i.startswith("c") for i in chosen)
    assert sorted(sum(i.startswith(k) for i in chosen) for k in "ab") == [4, 4]


def test_validation_windows_are_the_latest_training_windows(tmp_path):
    """Windows mode: the validation slice is the latest part in time of
    each series' training windows, between train and eval."""
    rows = [[s, t, t, -t, 10 * t, ""] for s in ("p", "q") for t in range(24)]
    spec = make_spec(tmp_path, rows, mode="windows", task="regression",
                     split="{eval_fraction: 0.25}",
                     extra="window: 3\nhorizon: 1\n")
    out, report = run_executor(spec, tmp_path, validation_fraction=0.2)
    # Per series: 21 windows, targets 3..23; eval from position 18.
    assert (report["examples_train"], report["examples_validation"],
            report["examples_eval"]) == (24, 6, 12)

    def targets(split, series):
        return sorted(e.features.feature["target_step"].int64_list.value[0]
                      for e in out[split] if e.features.feature[
                          "sequence_id"].bytes_list.value[0] == series)
    for series in (b"p", b"q"):
        assert targets("train", series) == list(range(3, 15))
        assert targets("validation", series) == [15, 16, 17]
        assert targets("eval", series)[0] == 18


def test_an_empty_validation_slice_is_written_for_the_trainer(tmp_path):
    """Two training sequences at 0.1 (0.2 rounds to none): the split is
    written empty and counted, not an error; the Trainer then trains
    without a slice and says so (tests/e2e/test_long_sequences.py). An
    empty train or eval split still stops the executor."""
    rows = [[f"s{i}", t, t, t, "x", "eval" if i == 2 else "train"]
            for i in range(3) for t in range(3)]
    out, report = run_executor(make_spec(tmp_path, rows), tmp_path,
                               validation_fraction=0.1)
    assert report == {"examples_train": 2, "examples_validation": 0,
                      "examples_eval": 1, "sequences": 3}
    assert out["validation"] == [] and len(out["train"]) == 2


# Every bad input once more, by the whole message: recorded from the
# row-per-element implementation (commit 4f846b1+), which the file-chunked
# reader must word exactly alike. ``{csv}`` stands for the CSV's path.
EXACT_MESSAGES = {
    'non_numeric':
        "{csv}: line 2, column 'a': non-numeric value 'abc' (features "
        'must be finite numbers)',
    'missing':
        "{csv}: line 2, column 'a': missing (features must be finite "
        'numbers)',
    'padded_text':
        "{csv}: line 2, column 'a': non-numeric value 'ab c' (features "
        'must be finite numbers)',
    'nan':
        "{csv}: line 3, column 'a': non-numeric value 'nan' (features "
        'must be finite numbers)',
    'inf':
        "{csv}: line 3, column 'b': non-numeric value '-inf' (features "
        'must be finite numbers)',
    'overflow':
        "{csv}: line 3, column 'b': non-numeric value '1e400' (features "
        'must be finite numbers)',
    'feature_major':
        "{csv}: line 3, column 'a': non-numeric value 'bad_a' (features "
        'must be finite numbers)',
    'step_order':
        "{csv}: line 3, column 'a': non-numeric value 'early' (features "
        'must be finite numbers)',
    'step_before_number':
        "{csv}: line 3, column 't': step must be an integer, got 'one'",
    'short':
        "{csv}: line 2: sequence 's' has 1 step; a sequence needs at "
        'least 2',
    'label_differs':
        "{csv}: line 4, column 'y': label 'w' differs from 'x' (line 3) "
        "within sequence 's'",
    'duplicate':
        "{csv}: line 4, column 't': duplicate step 2 in sequence 's' "
        '(also on line 2)',
    'unknown_split':
        "{csv}: line 2, column 'split': unknown split value 'test' "
        '(expected train or eval)',
    'split_changes':
        "{csv}: line 3, column 'split': split changes within sequence 's'",
    'bad_step':
        "{csv}: line 2, column 't': step must be an integer, got 'zero'",
    'float_step':
        "{csv}: line 2, column 't': step must be an integer, got '1.0'",
    'fields':
        '{csv}: line 3: 4 fields, the header has 6',
    'many_fields':
        '{csv}: line 3: 7 fields, the header has 6',
    'missing_label':
        "{csv}: line 2, column 'y': missing label",
    'regression_label':
        "{csv}: line 2, column 'y': non-numeric value 'abc' (features "
        'must be finite numbers)',
    'regression_missing_label':
        "{csv}: line 2, column 'y': missing (features must be finite "
        'numbers)',
    'label_before_number':
        "{csv}: line 3, column 'y': label 'w' differs from 'x' (line 2) "
        "within sequence 's'",
    'w_non_numeric':
        "{csv}: line 4, column 'a': non-numeric value 'abc' (features "
        'must be finite numbers)',
    'w_feature_major':
        "{csv}: line 4, column 'a': non-numeric value 'abc' (features "
        'must be finite numbers)',
    'w_short':
        "{csv}: line 2: series 's' has 2 steps, fewer than window + "
        'horizon = 3',
    'w_bad_label':
        "{csv}: line 4, column 'y': non-numeric value 'abc' (features "
        'must be finite numbers)',
    'w_inf_label':
        "{csv}: line 4, column 'y': non-numeric value 'inf' (features "
        'must be finite numbers)',
    'w_bad_split':
        "{csv}: line 4, column 'split': unknown split value 'test' "
        '(expected train or eval)',
    'w_bad_split_skipped':
        "{csv}: line 7, column 'split': unknown split value 'dev' "
        '(expected train or eval)',
    'w_missing_label_class':
        "{csv}: line 4, column 'y': missing label",
    'w_duplicate':
        "{csv}: line 4, column 't': duplicate step 1 in sequence 's' "
        '(also on line 3)',
    'w_bad_step':
        "{csv}: line 3, column 't': step must be an integer, got 'x'",
    'w_short_before_number':
        "{csv}: line 2: series 's' has 2 steps, fewer than window + "
        'horizon = 3',
}
WINDOWS = "window: 2\nhorizon: 1\n"


def ok(t, split="train", y="x"):
    return ["s", t, t, t, y, split]


BAD_INPUTS = [
    ("non_numeric", "sequences", "classification", "",
     [["s", 0, "abc", 1, "x", "train"], ok(1)]),
    ("missing", "sequences", "classification", "",
     [["s", 0, "", 1, "x", "train"], ok(1)]),
    ("padded_text", "sequences", "classification", "",
     [["s", 0, " ab c ", 1, "x", "train"], ok(1)]),
    ("nan", "sequences", "classification", "",
     [ok(0), ["s", 1, "nan", 1, "x", "train"]]),
    ("inf", "sequences", "classification", "",
     [ok(0), ["s", 1, 2, "-inf", "x", "train"]]),
    ("overflow", "sequences", "classification", "",
     [ok(0), ["s", 1, 2, "1e400", "x", "train"]]),
    ("feature_major", "sequences", "classification", "",
     [["s", 0, 1, "bad_b", "x", "train"],
      ["s", 1, "bad_a", 1, "x", "train"]]),
    ("step_order", "sequences", "classification", "",
     [["s", 1, "late", 1, "x", "train"], ["s", 0, "early", 1, "x", "train"]]),
    ("step_before_number", "sequences", "classification", "",
     [["s", 0, "abc", 1, "x", "train"], ["s", "one", 2, 1, "x", "train"]]),
    ("short", "sequences", "classification", "", [ok(0)]),
    ("label_differs", "sequences", "classification", "",
     [ok(1), ok(0), ["s", 2, 1, 1, "w", "train"]]),
    ("duplicate", "sequences", "classification", "",
     [ok(2), ok(0), ok(2), ok(1)]),
    ("unknown_split", "sequences", "classification", "",
     [ok(0, "test"), ok(1, "test")]),
    ("split_changes", "sequences", "classification", "",
     [ok(0), ok(1, "eval")]),
    ("bad_step", "sequences", "classification", "",
     [["s", "zero", 1, 1, "x", "train"], ok(1)]),
    ("float_step", "sequences", "classification", "",
     [["s", "1.0", 1, 1, "x", "train"], ok(0)]),
    ("fields", "sequences", "classification", "", [ok(0), ["s", 1, 2, 1]]),
    ("many_fields", "sequences", "classification", "",
     [ok(0), ok(1) + ["extra"]]),
    ("missing_label", "sequences", "classification", "",
     [ok(0, y=""), ok(1, y="")]),
    ("regression_label", "sequences", "regression", "",
     [ok(0, y="abc"), ok(1, y="abc")]),
    ("regression_missing_label", "sequences", "regression", "",
     [ok(0, y=""), ok(1, y="")]),
    ("label_before_number", "sequences", "classification", "",
     [["s", 0, "abc", 1, "x", "train"], ok(1, y="w")]),
    ("w_non_numeric", "windows", "regression", WINDOWS,
     [ok(0, y=0), ok(1, y=1), ["s", 2, "abc", 1, 2, "train"], ok(3, y=3)]),
    ("w_feature_major", "windows", "regression", WINDOWS,
     [ok(0, y=0), ["s", 1, 1, "q", 1, "train"],
      ["s", 2, "abc", 1, 2, "train"]]),
    ("w_short", "windows", "regression", WINDOWS, [ok(0, y=0), ok(1, y=1)]),
    ("w_bad_label", "windows", "regression", WINDOWS,
     [ok(0, y=0), ok(1, y=1), ok(2, y="abc"), ok(3, y=3)]),
    ("w_inf_label", "windows", "regression", WINDOWS,
     [ok(0, y=0), ok(1, y=1), ok(2, y="inf")]),
    ("w_bad_split", "windows", "regression", WINDOWS,
     [ok(0, y=0), ok(1, y=1), ok(2, "test", y=2)]),
    ("w_bad_split_skipped", "windows", "regression", WINDOWS,
     [ok(0, y=0), ["s", 1, "", 1, 1, "train"], ok(2, "test", y=2), ok(3, y=3),
      ok(4, y=4), ok(5, "dev", y=5)]),
    ("w_missing_label_class", "windows", "classification", WINDOWS,
     [ok(0), ok(1), ok(2, y="")]),
    ("w_duplicate", "windows", "regression", WINDOWS,
     [ok(0, y=0), ok(1, y=1), ok(1, y=1)]),
    ("w_bad_step", "windows", "regression", WINDOWS,
     [ok(0, y=0), ["s", "x", 1, 1, 1, "train"], ok(2, y=2)]),
    ("w_short_before_number", "windows", "regression", WINDOWS,
     [["s", 0, "abc", 1, 1, "train"], ok(1, y=1)]),
]


@pytest.mark.parametrize("name, mode, task, extra, rows", BAD_INPUTS,
                         ids=[case[0] for case in BAD_INPUTS])
def test_bad_inputs_read_exactly_as_before(tmp_path, name, mode, task,
                                           extra, rows):
    spec = make_spec(tmp_path, rows, mode=mode, task=task, extra=extra)
    with pytest.raises(DataError) as error:
        convert(spec)
    assert str(error.value) == EXACT_MESSAGES[name].format(csv=spec.csv)


@pytest.mark.parametrize("steps", [2, 40, 3000])
def test_examples_written_field_by_field_parse_as_the_proto_api_builds(
        steps, tmp_path):
    """`encode_example` (wire format by hand) against `_example` (message
    objects): the same Example, for float32 rounding, -0.0, subnormals,
    lengths past one varint byte, values beyond float32's range."""
    spec = make_spec(tmp_path, [])
    rng = np.random.default_rng(steps)
    values = rng.normal(0, 1e3, (steps, 2))
    values[0] = [-0.0, 1e-42]
    values[1] = [0.1, -3.4028235677973366e38]  # rounds to -FLOAT32_MAX
    label = tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"x"]))
    for matrix in (values, values * [[1, 1.01]]):  # then past float32
        expected = rules._example(spec, "séq-1", dict(zip(
            spec.features, matrix.T.tolist())), label)
        written = tf.train.Example.FromString(
            rules.encode_example(spec, "séq-1", matrix, label))
        assert written.SerializeToString(deterministic=True) == \
            expected.SerializeToString(deterministic=True)


# --- the Arrow reader of plain CSVs reads as the Python rules do ----------

PLAIN_HEADER = b"id,t,a,b,y,split\n"
CASTABLE_ROWS = [  # every column converted by Arrow's casts
    b"s1,0,1.,.5,x,train", b"s1,1,-.5,1e5,x,train",
    b"s1,2,1E-5,1e+5,x,train", b"s2,00012,0.1234567890123456789012345,-0,"
    b"\xc3\xa9,eval", b"s2,-1,4.9e-324,1e308,\xc3\xa9,eval",
    b"s3,7,3,2.5,x,train", b"s1,3,0.1,0.2,x,train"]
TRICKY_ROWS = [  # texts Arrow's casts refuse: the Python rules convert them
    b"s1,0,1.,.5,x,train", b" s1 ,1, 2.5 ,-.5,x ,train",
    b"s1,2,1e5,1E-5,x,train", b"s1,3,+1,1_0,x,train",
    b"s2,-1,1e308,-0,\xc3\xa9,eval", b"s2,1,nan,inf,\xc3\xa9,eval",
    b"s2,2,1e400,2,\xc3\xa9,eval", b"s3,0x1,1,2,x,train",
    b"s3,+5,1,2,x,train", b"s1,4,,3,x,train"]


def plain_chunks(tmp_path, body):
    """``(spec, raw, Arrow reader's chunks or None)`` of a CSV of ``body``
    (bytes after the header) under `make_spec`'s columns."""
    spec = make_spec(tmp_path, [])
    raw = PLAIN_HEADER + body
    (tmp_path / "data.csv").write_bytes(raw)
    header = PLAIN_HEADER.decode().strip().split(",")
    plain = rules.read_plain_chunks(spec.csv, raw, spec, header)
    return spec, raw, None if plain is None else list(plain)


@pytest.mark.parametrize("rows", [CASTABLE_ROWS, TRICKY_ROWS],
                         ids=["castable", "tricky"])
@pytest.mark.parametrize("line_end", [b"\n", b"\r\n"])
def test_plain_csvs_read_through_arrow_equal_the_python_rules(tmp_path, rows,
                                                              line_end):
    """Every value, bad value, step text, stripped label and line number
    the same, line by line (CRLF too, and no final line end); a sequence's
    rows apart in the file are merged."""
    body = line_end.join(rows)
    for text in (body + line_end, body):
        spec, raw, plain = plain_chunks(tmp_path, text)
        assert plain is not None
        assert plain == list(rules.read_chunks(
            spec.csv, decode_csv(spec.csv, raw, DataError), spec))
    assert {sequence_id for sequence_id, _ in plain} == {"s1", "s2", "s3"}
    if rows is CASTABLE_ROWS:  # so the casts themselves are what is compared
        columns = list(zip(*[row.decode().split(",") for row in rows]))
        for column, arrow_type in zip(columns[1:4], (
                pa.int64(), pa.float64(), pa.float64())):
            assert rules._cast(pa.array(column), arrow_type) is not None


@pytest.mark.parametrize("body", [
    b's1,0,"1",2,x,train\n',          # a quote
    b"s1,0,1,2,x,train\n\ns1,1,1,2,x,train\n",  # a blank line
    b"s1,0,1,2,x,train\rs1,1,1,2,x,train\n",    # a lone carriage return
    b"s1,0,1,2,x\n",                  # a field short
    b"s1,0,1,2,x,train,extra\n",      # a field too many
], ids=["quote", "blank line", "lone CR", "short row", "long row"])
def test_csvs_that_are_not_plain_are_left_to_the_python_rules(tmp_path,
                                                              body):
    assert plain_chunks(tmp_path, body)[2] is None


# --- a file of any size is read part by part ------------------------------

def read_in_parts(tmp_path, monkeypatch, raw, part_bytes, part_rows=None):
    """`convert` of a CSV of bytes ``raw`` (`make_spec`'s columns) read in
    parts of ``part_bytes`` (and, past a quote, of ``part_rows`` rows): the
    examples, or the DataError's message."""
    spec = make_spec(tmp_path, [])
    (tmp_path / "data.csv").write_bytes(raw)
    monkeypatch.setattr(rules, "PART_BYTES", part_bytes)
    if part_rows:
        monkeypatch.setattr(rules, "PART_ROWS", part_rows)
    try:
        return sorted(example for batch in convert(spec)
                      if isinstance(batch, list) for example in batch)
    except DataError as error:
        return str(error)


INTERLEAVED = [  # three sequences, rows apart and out of step order
    f"s{i % 3},{(7 * i) % 11 + 11 * (i // 33)},{i}.5,-{i}e-3,"
    f"{'x' if i % 3 else 'é'},{'eval' if i % 3 == 2 else 'train'}"
    for i in range(60)]


@pytest.mark.parametrize("body", [
    "\n".join(INTERLEAVED) + "\n",                       # plain: Arrow
    "\r\n".join(INTERLEAVED),                             # CRLF, no last end
    "\n".join(INTERLEAVED[:30] + [""] + INTERLEAVED[30:]),  # a blank line
    "\r".join(INTERLEAVED[:20]) + "\n" + "\n".join(INTERLEAVED[20:]),
    "\n".join(INTERLEAVED[:20] + [" s1 ,+40, 2.5 ,1_0,x ,train"] +
              INTERLEAVED[20:]),                          # the row rules
    "\n".join(INTERLEAVED[:45] + ['s0,"50","1.5",2,é,train'] +
              INTERLEAVED[45:]),                          # a late quote
    "\n".join(INTERLEAVED[:45] + ['s0,50,"1\n",2,é,train'] +
              INTERLEAVED[45:]),                          # a quoted line end
], ids=["plain", "crlf", "blank line", "lone CR", "rules", "late quote",
        "quoted line end"])
def test_a_file_read_in_parts_gives_the_examples_of_one_read(
        tmp_path, monkeypatch, body):
    """Parts of 1 byte to 1 KB (each ending at a line end, so one row
    each up to many): the same examples, splits and line numbers as the
    file read at once; past a quote, parts of 7 rows."""
    raw = PLAIN_HEADER + body.encode()
    whole = read_in_parts(tmp_path, monkeypatch, raw, 1 << 20)
    assert isinstance(whole, list) and len(whole) == 3
    for part_bytes in (1, 97, 1024):
        assert read_in_parts(tmp_path, monkeypatch, raw, part_bytes,
                             part_rows=7) == whole


@pytest.mark.parametrize("late, message", [
    (b"s1,99,1,2,x\n", "line 52: 5 fields, the header has 6"),
    (b"s1,99,1,oops,x,train\n",
     "line 52, column 'b': non-numeric value 'oops'"),
    (b"s1,99,1,2,\xe9,train\n", "line 52: not valid UTF-8 (byte 0xe9 at "
                                "character 11)"),
    (b"s1,99,1,2,x\0,train\n", "line 52: a NUL byte (0x00) at character 12"),
], ids=["short row", "bad value", "not UTF-8", "NUL"])
def test_a_bad_row_deep_in_a_file_read_in_parts_is_named_as_before(
        tmp_path, monkeypatch, late, message):
    """Line 52 of 61, read at once or in parts of 100 bytes (the error in
    a later part): the same message, naming file, line and column."""
    lines = [row.encode() + b"\n" for row in INTERLEAVED]
    raw = PLAIN_HEADER + b"".join(lines[:50] + [late] + lines[50:])
    whole = read_in_parts(tmp_path, monkeypatch, raw, 1 << 20)
    assert isinstance(whole, str) and message in whole
    assert read_in_parts(tmp_path, monkeypatch, raw, 100) == whole


# --- a bucket's sequences are encoded all at once -------------------------

def bucket_parts(tmp_path, rows, task="classification", parts=2):
    """``(spec, [rules.Rows, ...])``: ``rows`` (`make_spec`'s columns) read
    as the executor reads them, in ``parts`` (1 or 2) consecutive parts."""
    spec = make_spec(tmp_path, rows, task=task)
    with open(spec.csv, "rb") as f:
        raw = f.read()
    lines = raw.splitlines(keepends=True)
    cut = 1 + len(lines[1:]) // parts
    header = lines[0].decode().strip().split(",")
    pieces = [rules.Part.of(1, b"".join(lines[:cut])),
              rules.Part.of(cut + 1, b"".join(lines[cut:]))]
    found = list(rules.read_parts(
        spec.csv, [piece for piece in pieces if piece.raw],
        spec, header, lambda part: decode_csv(spec.csv, part.raw, DataError,
                                              part.first_line)))
    return spec, found


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_a_bucket_encoded_at_once_equals_each_sequence_encoded_alone(
        tmp_path, monkeypatch, task):
    """`rules.sequence_examples` (every sequence at once, with NumPy)
    against `rules.sequence_from_chunk` per merged sequence: the same
    split, first line, label and bytes, in id order, for sequences whose
    rows are shuffled and cut across parts, and sequences it must hand to
    `sequence_from_chunk` (a value beyond float32, a step beyond int64)."""
    rng = np.random.default_rng(5)
    rows = []
    for i in range(30):
        label = str(i % 3) if task == "regression" else "abc"[i % 3]
        split = "eval" if i % 4 == 0 else "train"
        for t in range(int(rng.integers(2, 12))):
            rows.append([f"s{i:02d}", t, *rng.normal(0, 100, 2).round(6),
                         label, split])
    rows.append(["s99", 0, 1, 5e38, "1", "train"])  # beyond float32
    rows.append(["s99", 1, 1, 1, "1", "train"])
    rows.append(["s98", 10**20, 1, 1, "1", "train"])  # a step past int64
    rows.append(["s98", 0, 1, 1, "1", "train"])
    order = rng.permutation(len(rows))
    spec, parts = bucket_parts(tmp_path, [rows[i] for i in order], task)
    assert len(parts) == 2

    def deterministic(found):  # the proto API orders map entries at random
        return [(sequence_id, (*fields, tf.train.Example.FromString(
            example).SerializeToString(deterministic=True)))
            for sequence_id, (*fields, example) in found]
    handed = []
    alone_one = rules.sequence_from_chunk
    monkeypatch.setattr(rules, "sequence_from_chunk", lambda *args: (
        handed.append(args[1]) or alone_one(*args)))
    at_once = list(rules.sequence_examples(spec, parts))
    assert sorted(handed) == ["s98", "s99"]
    alone = [(sequence_id, alone_one(spec, sequence_id, chunk))
             for sequence_id, chunk in rules.merged_chunks(parts)]
    assert [sequence_id for sequence_id, _ in at_once] == sorted(
        {row[0] for row in rows})
    assert deterministic(at_once) == deterministic(alone)
    # The fast path's bytes are `encode_example`'s, exactly.
    assert at_once[:30] == alone[:30]


def test_a_bucket_with_a_bad_sequence_raises_its_own_error(tmp_path):
    """The first bad sequence in id order raises, worded as
    `sequence_from_chunk` words it, whatever the fast sequences around."""
    rows = [["a", t, t, t, "x", "train"] for t in range(3)]
    rows += [["b", 0, 1, 1, "x", "train"], ["b", 0, 2, 2, "x", "train"]]
    rows += [["c", 0, 1, 1, "x", "train"]]  # short, but after b
    spec, parts = bucket_parts(tmp_path, rows)
    with pytest.raises(DataError, match=r"line 6, column 't': duplicate "
                                        r"step 0 in sequence 'b' \(also on "
                                        r"line 5\)"):
        list(rules.sequence_examples(spec, parts))


def test_buckets_leave_in_order_of_their_first_row(tmp_path):
    """The order buckets reach Beam's grouping in, and so the order of the
    examples in the files (which training batches follow), is that of each
    bucket's first row; a bucket's rows stay in file order."""
    ids = [f"q{i}" for i in range(40)]
    rows = [[sequence_id, t, t, -t, "x", "train"]
            for t in range(2) for sequence_id in ids]
    spec, parts = bucket_parts(tmp_path, rows, parts=1)
    found = list(rules.bucket_rows(parts[0], executor.bucket_of))
    first_seen = list(dict.fromkeys(executor.bucket_of(i) for i in ids))
    assert [bucket for bucket, _ in found] == first_seen
    assert first_seen != sorted(first_seen)  # so the order is tested
    for bucket, bucket_rows in found:
        assert bucket_rows.ids == [i for _, i in sorted(
            (line, row[0]) for line, row in enumerate(rows)
            if executor.bucket_of(row[0]) == bucket)]
        assert np.all(np.diff(bucket_rows.lines) > 0)


def test_framed_records_are_what_tensorflow_writes(tmp_path):
    """A bucket's records framed at once (empty and large ones among them)
    are the bytes `tf.io.TFRecordWriter` writes; written by the sink into
    a ``.gz`` file, every record reads back, in order."""
    rng = np.random.default_rng(0)
    records = [rng.bytes(n) for n in (0, 1, 7, 300, 70_000, 12)]
    with tf.io.TFRecordWriter(str(tmp_path / "tf.tfrecord")) as writer:
        for record in records:
            writer.write(record)
    assert tfrecords.framed(records) == \
        (tmp_path / "tf.tfrecord").read_bytes()
    assert tfrecords.framed([]) == b""

    with beam.Pipeline() as pipeline:
        _ = (pipeline
             | beam.Create([tfrecords.framed(records[:2]),
                            tfrecords.framed(records[2:])])
             | tfrecords.write_framed(str(tmp_path / "out" / "data"),
                                      file_name_suffix=".gz"))
    [written] = glob.glob(str(tmp_path / "out" / "data-*-of-*.gz"))
    assert [r.numpy() for r in tf.data.TFRecordDataset(
        written, compression_type="GZIP")] == records


def test_writer_thread_writes_in_order_and_raises_a_write_error(tmp_path):
    """The sink's writes, done by a thread of their own, give the gzip
    bytes of the same writes done in the caller's thread; a failed write
    (a full disk) is raised by the next write or by close, not lost."""
    rng = np.random.default_rng(1)
    pieces = [tfrecords.framed([rng.bytes(n)]) for n in range(0, 9000, 97)]
    paths = [str(tmp_path / name) for name in ("direct.gz", "thread.gz")]
    gzip = CompressionTypes.GZIP
    direct = FileSystems.create(paths[0], compression_type=gzip)
    threaded = tfrecords.WriterThread(
        FileSystems.create(paths[1], compression_type=gzip), depth=2)
    for piece in pieces:
        direct.write(piece)
        threaded.write(piece)
    direct.close()
    threaded.close()
    first, second = (pathlib.Path(path).read_bytes() for path in paths)
    assert first == second and len(first) > 1000

    class FullDisk(io.BytesIO):
        def write(self, data):
            raise OSError(28, "No space left on device")

    failing = tfrecords.WriterThread(FullDisk())
    failing.write(b"x")
    with pytest.raises(OSError, match="No space left"):
        for _ in range(10):  # raised once the thread has tried
            failing.write(b"y")
            time.sleep(0.05)
        failing.close()
