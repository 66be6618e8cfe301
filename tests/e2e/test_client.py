"""`noisy_rnn.pipeline.serving.client`, the ``noisy-rnn predict`` engine,
on the real pushed JapaneseVowels model: in process, and through a TF Serving double (real
gRPC and HTTP sockets, real ``tensorflow_serving`` protos)."""

import csv
import json
import math
import urllib.request

import numpy as np
import pytest
import tensorflow as tf
from serving_double import serve

from noisy_rnn.components.sequence_example_gen.examples import DataError
from noisy_rnn.pipeline.serving import client
from noisy_rnn.pipeline.serving.client import PredictionError
from noisy_rnn.schemas.dataset_spec import load_spec

DATASET = "schemas/japanese_vowels/dataset.yaml"
SOURCE_CSV = "data/japanese_vowels.csv"
TRANSPORTS = ["grpc", "rest-instances", "rest-inputs", "local"]


@pytest.fixture(scope="module")
def servers(japanese_vowels):
    """The pushed model behind the TF Serving double."""
    config, summary = japanese_vowels
    with serve(summary.pushed_path, config.model_name) as running:
        yield running


@pytest.fixture(scope="module")
def eval_csv(tmp_path_factory):
    """``(path, {sequence_id: speaker})``: the eval rows of the real CSV
    without their label and split columns."""
    with open(SOURCE_CSV, newline="") as f:
        rows = [row for row in csv.DictReader(f) if row["split"] == "eval"]
    path = tmp_path_factory.mktemp("client") / "eval.csv"
    columns = [c for c in rows[0] if c not in ("speaker", "split")]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path, {row["sequence_id"]: row["speaker"] for row in rows}


def test_every_target_and_signature_agree_with_the_evaluated_accuracy(
        japanese_vowels, servers, eval_csv):
    config, summary = japanese_vowels
    path, truth = eval_csv
    runs = {
        "local version dir, examples": (summary.pushed_path,
                                        dict(signature="examples")),
        "local base dir, sequences": (config.serving_dir,
                                      dict(signature="sequences")),
        "grpc, examples": (servers.grpc_target, {}),  # the default
        "grpc, sequences": (servers.grpc_target,
                            dict(signature="sequences", batch_size=100)),
        "rest instances, sequences": (servers.http_target, {}),  # defaults
        "rest inputs, sequences": (servers.http_target,
                                   dict(rest_format="inputs")),
        "rest instances, examples": (servers.http_target,
                                     dict(signature="examples")),
        "rest inputs, examples": (servers.http_target,
                                  dict(signature="examples",
                                       rest_format="inputs")),
    }
    results = {name: client.predict_csv(target, DATASET, path, **options)
               for name, (target, options) in runs.items()}
    reference = results["local version dir, examples"]
    assert [row["key"] for row in reference] == list(truth)  # CSV order
    probabilities = np.array([row["probabilities"] for row in reference])
    assert probabilities.shape == (370, 9)
    np.testing.assert_array_equal(probabilities.argmax(axis=1),
                                  [row["class_ids"] for row in reference])
    for name, rows in results.items():
        assert [row["key"] for row in rows] == list(truth), name
        assert [row["class_ids"] for row in rows] == \
            [row["class_ids"] for row in reference], name
        assert [row["classes"] for row in rows] == \
            [row["classes"] for row in reference], name
        np.testing.assert_allclose([row["probabilities"] for row in rows],
                                   probabilities, atol=1e-5, err_msg=name)
    accuracy = np.mean([row["classes"] == truth[row["key"]]
                        for row in reference])
    assert accuracy == pytest.approx(
        summary.metrics["sparse_categorical_accuracy"], abs=1e-6)

    text = client.format_rows(reference, "classification", "sequence_id")
    lines = text.splitlines()
    assert lines[0] == "sequence_id,class,probability" and len(lines) == 371
    first = reference[0]
    assert lines[1] == (f"{first['key']},{first['classes']},"
                        f"{first['probabilities'][first['class_ids']]:.6g}")


def test_predict_to_csv_writes_one_row_per_sequence(japanese_vowels,
                                                    eval_csv, tmp_path):
    _, summary = japanese_vowels
    with open(eval_csv[0], newline="") as f:
        rows = list(csv.reader(f))
    small = tmp_path / "three.csv"
    keep = {"eval-000", "eval-001", "eval-002"}
    with open(small, "w", newline="") as f:
        csv.writer(f).writerows([rows[0]] + [r for r in rows[1:]
                                             if r[0] in keep])
    out = tmp_path / "predictions.csv"
    count = client.predict_to_csv(summary.pushed_path, DATASET, small,
                                  output=out)
    with open(out, newline="") as f:
        written = list(csv.DictReader(f))
    assert count == 3
    assert [row["sequence_id"] for row in written] == sorted(keep)
    assert all(0 < float(row["probability"]) <= 1 and row["class"] in
               "123456789" for row in written)


def test_format_rows_for_regression():
    rows = [{"key": "north", "prediction": 1.25},
            {"key": "south", "prediction": -0.5}]
    assert client.format_rows(rows, "regression", "station") == \
        "station,prediction\nnorth,1.25\nsouth,-0.5\n"


# --- windows mode: items from series ----------------------------------------

WINDOWS_SPEC = ("name: mine\ncsv: train.csv\nmode: windows\n"
                "sequence_id: station\nstep: day\n"
                "features: [level, temperature]\nlabel: level\n"
                "task: regression\nsplit: {eval_fraction: 0.2}\n"
                "window: 12\nhorizon: 1\n")


def write_series(tmp_path, days=30, edit=None, shuffle=False):
    """Two stations' daily rows (no label/split columns needed: the label
    is a feature here); ``edit(rows)`` may break them. Returns
    ``(spec, csv path, {station: [[level, temperature], ...]})``."""
    (tmp_path / "dataset.yaml").write_text(WINDOWS_SPEC)
    rows, series = [], {}
    for station, offset in (("north", 0.0), ("south", 1.5)):
        for day in range(days):
            level = round(offset + math.sin(day / 4), 4)
            temperature = round(math.cos(day / 4), 4)
            rows.append([station, day, level, temperature])
            series.setdefault(station, []).append([level, temperature])
    if shuffle:
        np.random.default_rng(0).shuffle(rows)
    if edit:
        edit(rows)
    path = tmp_path / "series.csv"
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([["station", "day", "level",
                                  "temperature"]] + rows)
    return load_spec(tmp_path / "dataset.yaml", check_csv=False), path, series


def test_windows_items_are_the_last_window_of_each_series(tmp_path):
    def blank_an_early_value(rows):
        next(r for r in rows if r[:2] == ["north", 3])[2] = ""

    spec, path, series = write_series(tmp_path, edit=blank_an_early_value,
                                      shuffle=True)
    items = {item.key: item for item in client.read_items(spec, path)}
    assert sorted(items) == ["north", "south"]
    for station, item in items.items():
        np.testing.assert_allclose(item.values, series[station][-12:])
    items = [items["north"], items["south"]]

    inputs = client.request_inputs(items, spec, "sequences")
    assert inputs["values"].shape == (2, 12, 2)
    assert inputs["values"].dtype == np.float32
    assert inputs["lengths"].tolist() == [12, 12]
    body = client.rest_request_body(inputs, "sequences", "instances")
    assert body["signature_name"] == "serving_sequences"
    assert [sorted(row) for row in body["instances"]] == \
        [["lengths", "values"]] * 2
    assert body["instances"][1]["lengths"] == 12
    assert len(body["instances"][1]["values"]) == 12
    columnar = client.rest_request_body(inputs, "sequences", "inputs")
    assert np.shape(columnar["inputs"]["values"]) == (2, 12, 2)

    examples = client.request_inputs(items, spec, "examples")["examples"]
    parsed = tf.train.Example.FromString(examples[1])
    np.testing.assert_allclose(
        parsed.features.feature["temperature"].float_list.value,
        [v[1] for v in series["south"][-12:]], rtol=1e-6)
    body = client.rest_request_body({"examples": examples}, "examples")
    assert body["signature_name"] == "serving_default"
    assert list(body["instances"][0]) == ["b64"]
    request = client.grpc_request({"examples": examples}, "mine")
    assert request.model_spec.signature_name == "serving_default"
    assert request.inputs["examples"].dtype == tf.string.as_datatype_enum


def _drop_day(station, day):
    return lambda rows: rows.remove(next(r for r in rows
                                         if r[:2] == [station, day]))


def _set_value(station, day, column, value):
    def edit(rows):
        next(r for r in rows if r[:2] == [station, day])[column] = value
    return edit


# Unshuffled: north's day d is on line d + 2, south's on line d + 32.
@pytest.mark.parametrize("edit, days, message", [
    (_drop_day("north", 25), 30,
     r"series\.csv: line 27, column 'day': step 26 does not follow step 24 "
     r"\(line 26\); the last 12 steps of series 'north' \(lines 19\.\.30\) "
     r"must be contiguous"),
    (_set_value("south", 28, 3, ""), 30,
     r"series\.csv: line 60, column 'temperature': missing value within the "
     r"last 12 steps of series 'south' \(lines 50\.\.61\)"),
    (_set_value("north", 2, 2, "n/a"), 30,
     r"series\.csv: line 4, column 'level': non-numeric value 'n/a'"),
    (None, 8, r"series\.csv: line 2: series 'north' has 8 steps, fewer than "
              r"window = 12"),
], ids=["gap", "missing value", "non-numeric", "too short"])
def test_windows_errors_name_the_lines(tmp_path, edit, days, message):
    spec, path, _ = write_series(tmp_path, days=days, edit=edit)
    with pytest.raises(DataError, match=message):
        client.read_items(spec, path)


# --- CSV errors (sequences mode) --------------------------------------------

def _set(line, column, value):
    """Sets a cell of CSV line ``line`` (1-based, the header is line 1)."""
    def edit(rows):
        rows[line - 1][rows[0].index(column)] = value
    return edit


def _drop_column(column):
    def edit(rows):
        index = rows[0].index(column)
        for row in rows:
            del row[index]
    return edit


# Breaks of a two-sequence JapaneseVowels prediction CSV.
CSV_EDITS = {
    "duplicate step": lambda rows: rows.append(list(rows[2])),  # line 3
    "non-numeric": _set(5, "c4", "abc"),
    "missing value": _set(6, "c7", ""),
    "bad step": _set(4, "step", "2.5"),
    "missing column": _drop_column("c11"),
}


@pytest.mark.parametrize("case, message", [
    ("duplicate step", r"small\.csv: line \d+, column 'step': duplicate step 1"
                       r" in sequence 'eval-000' \(also on line 3\)"),
    ("non-numeric", r"small\.csv: line 5, column 'c4': non-numeric value "
                    r"'abc'"),
    ("missing value", r"small\.csv: line 6, column 'c7': missing"),
    ("bad step", r"small\.csv: line 4, column 'step': step must be an "
                 r"integer, got '2\.5'"),
    ("missing column", r"small\.csv: line 1: column 'c11' is missing from "
                       r"the header"),
])
def test_csv_errors_name_file_line_and_column(eval_csv, tmp_path, case,
                                              message):
    with open(eval_csv[0], newline="") as f:
        rows = [row for row in csv.reader(f)
                if row[0] in ("sequence_id", "eval-000", "eval-001")]
    CSV_EDITS[case](rows)
    path = tmp_path / "small.csv"
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    with pytest.raises(DataError, match=message):
        # The CSV is read before the target is opened: no request is sent.
        client.predict_csv("grpc://127.0.0.1:1", DATASET, path)


# --- bad requests ------------------------------------------------------------

def _example(values_by_feature):
    return tf.train.Example(features=tf.train.Features(feature={
        name: tf.train.Feature(float_list=tf.train.FloatList(value=values))
        for name, values in values_by_feature.items()})).SerializeToString()


def _features(steps=5, **overrides):
    values = {f"c{i}": [0.1 * i] * steps for i in range(12)}
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def _sequences(values, lengths):
    return {"values": values, "lengths": np.array(lengths, np.int32)}


def _nan_values():
    values = np.zeros([1, 5, 12], np.float32)
    values[0, 2, 4] = np.nan
    return values


BAD_REQUESTS = {
    "missing feature": (
        "examples", lambda: {"examples": np.array(
            [_example(_features(c3=None))], dtype=object)},
        r"examples: feature c3 is missing or has no values"),
    "feature with no values": (
        "examples", lambda: {"examples": np.array(
            [_example(_features()), _example(_features(c5=[]))],
            dtype=object)},
        r"examples: feature c5 is missing or has no values; at batch "
        r"row\(s\):\] \[1\]"),
    "zero length": (
        "sequences", lambda: _sequences(np.zeros([1, 5, 12], np.float32), [0]),
        r"serving_sequences: every sequence needs lengths >= 1"),
    "NaN": (
        "sequences", lambda: _sequences(_nan_values(), [5]),
        r"serving_sequences: values has NaN or infinite entries"),
    "wrong dtype": (
        "sequences", lambda: _sequences(np.full([1, 5, 12], "x"), [5]),
        r"float"),
    "wrong rank": (
        "sequences", lambda: _sequences(np.zeros([1, 12], np.float32), [5]),
        r"Can not cast TensorSpec\(shape=\(1, 12\).* to TensorSpec\(shape="
        r"\(None, None, 12\)"),
}


def _target(transport, japanese_vowels, servers):
    """``(target, rest_format)`` of a transport."""
    if transport == "local":
        return japanese_vowels[1].pushed_path, "instances"
    if transport == "grpc":
        return servers.grpc_target, "instances"
    return servers.http_target, transport.split("-")[1]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_requests_are_invalid_arguments_and_serving_goes_on(
        japanese_vowels, servers, eval_csv, transport, case):
    config, _ = japanese_vowels
    target, rest_format = _target(transport, japanese_vowels, servers)
    signature, make_inputs, message = BAD_REQUESTS[case]
    with pytest.raises(PredictionError, match=message) as caught:
        client.predict(target, make_inputs(), config.model_name, signature,
                       rest_format)
    error = caught.value
    if transport.startswith("rest"):
        assert error.http_status == 400
    else:
        assert error.code == "INVALID_ARGUMENT"
    if transport == "local":
        assert isinstance(error.__cause__,
                          (tf.errors.InvalidArgumentError, TypeError))
    assert "\n" not in error.message and "[[" not in error.message

    spec = load_spec(DATASET, check_csv=False)
    items = client.read_items(spec, eval_csv[0])[:2]
    outputs = client.predict(target, client.request_inputs(items, spec,
                                                           signature),
                             config.model_name, signature, rest_format)
    assert np.shape(outputs["probabilities"]) == (2, 9)


@pytest.mark.parametrize("transport", ["local", "grpc"])
@pytest.mark.parametrize("signature, inputs, message", [
    ("sequences", lambda: _sequences(np.zeros([2, 5, 12], np.float32), [5]),
     r"serving_sequences: values and lengths differ in batch size:\] "
     r"\[2\] \[1\]"),
    ("examples", lambda: {"examples": np.array([], dtype=object)},
     r"examples: empty batch"),
])
def test_malformed_batches_are_invalid_arguments(
        japanese_vowels, servers, transport, signature, inputs, message):
    """Batches the REST row format cannot even express."""
    config, _ = japanese_vowels
    target, _ = _target(transport, japanese_vowels, servers)
    with pytest.raises(PredictionError, match=message) as caught:
        client.predict(target, inputs(), config.model_name, signature)
    assert caught.value.code == "INVALID_ARGUMENT"


def test_grpc_rejects_a_dtype_other_than_the_declared_one(japanese_vowels,
                                                          servers):
    config, _ = japanese_vowels
    values = np.zeros([1, 5, 12], np.float64)
    # The message is the test double's; real TF Serving words it
    # differently. What matters: gRPC refuses it, with INVALID_ARGUMENT.
    with pytest.raises(PredictionError, match=r"float") as e:
        client.predict(servers.grpc_target, _sequences(values, [5]),
                       config.model_name, "sequences")
    assert e.value.code == "INVALID_ARGUMENT"
    # REST converts JSON numbers into the declared float32, as TF Serving.
    outputs = client.predict(servers.http_target, _sequences(values, [5]),
                             config.model_name, "sequences")
    assert np.shape(outputs["class_ids"]) == (1,)


def test_unknown_model_or_version_is_not_found(japanese_vowels, servers):
    config, _ = japanese_vowels
    inputs = _sequences(np.zeros([1, 5, 12], np.float32), [5])
    with pytest.raises(PredictionError, match=r"Servable not found .*"
                                              r"Latest\(nope\)") as e:
        client.predict(servers.grpc_target, inputs, "nope", "sequences")
    assert e.value.code == "NOT_FOUND"
    with pytest.raises(PredictionError, match=r"Servable not found") as e:
        client.predict(servers.http_target, inputs, config.model_name,
                       "sequences", version=servers.model.version + 1)
    assert e.value.http_status == 404
    url = f"{servers.http_target}/v1/models/{config.model_name}"
    with urllib.request.urlopen(url, timeout=10) as f:
        [status] = json.loads(f.read())["model_version_status"]
    assert status["state"] == "AVAILABLE"
    assert status["version"] == str(servers.model.version)
