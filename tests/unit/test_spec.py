"""Dataset spec loading: the shipped specs load, and every mistake is named
by file, line and key."""

import csv
import re
import textwrap

import pytest

from noisy_rnn.schemas.dataset_spec import SpecError, decode_csv, load_spec

GOOD = """\
name: toy
csv: toy.csv
mode: sequences
sequence_id: id
step: t
features: [a, b]
label: y
task: classification
split: {column: split}
"""


def write(tmp_path, spec_text, csv_text="id,t,a,b,y,split\n1,0,0.1,0.2,x,train\n"):
    (tmp_path / "toy.csv").write_text(csv_text)
    path = tmp_path / "dataset.yaml"
    path.write_text(textwrap.dedent(spec_text))
    return path


def test_japanese_vowels_spec_loads_with_its_curated_schema():
    spec = load_spec("schemas/japanese_vowels/dataset.yaml")
    assert spec.mode == "sequences" and spec.task == "classification"
    assert spec.features == [f"c{i}" for i in range(12)]
    assert spec.split_column == "split" and spec.label == "speaker"
    assert spec.csv.endswith("data/japanese_vowels.csv")
    assert spec.schema.endswith("schemas/japanese_vowels/schema.pbtxt")


def test_windows_spec_defaults_stride_to_one(tmp_path):
    path = write(tmp_path, GOOD.replace("mode: sequences", "mode: windows")
                 .replace("split: {column: split}", "split: {eval_fraction: 0.2}")
                 + "window: 5\nhorizon: 1\n")
    spec = load_spec(path)
    assert (spec.window, spec.horizon, spec.stride) == (5, 1, 1)
    assert spec.eval_fraction == 0.2 and spec.split_column is None


@pytest.mark.parametrize("change, message", [
    (lambda s: s + "windw: 3\n", r"line 10: key 'windw': unknown key"),
    (lambda s: s.replace("mode: sequences\n", ""), r"missing required key 'mode'"),
    (lambda s: s.replace("mode: sequences", "mode: frames"),
     r"line 3: key 'mode': must be one of sequences, windows, got 'frames'"),
    (lambda s: s.replace("task: classification", "task: ranking"),
     r"line 8: key 'task'"),
    (lambda s: s.replace("features: [a, b]", "features: a"),
     r"line 6: key 'features': must be a non-empty list"),
    (lambda s: s.replace("features: [a, b]", "features: [a, c]"),
     r"line 6: key 'features': column 'c' is not in the header \(line 1\)"),
    (lambda s: s.replace("label: y", "label: speaker"),
     r"line 7: key 'label': column 'speaker' is not in the header"),
    (lambda s: s.replace("{column: split}", "{eval_fraction: 1.5}"),
     r"line 9: key 'split': eval_fraction must be a number in \(0, 1\)"),
    (lambda s: s.replace("{column: split}", "{random: 0.2}"),
     r"line 9: key 'split': unknown split kind 'random'"),
    (lambda s: s + "window: 4\n", r"line 10: key 'window': only applies to "
                                  r"mode 'windows'"),
    (lambda s: s.replace("mode: sequences", "mode: windows"),
     r"mode 'windows' needs key 'window'"),
    (lambda s: s.replace("mode: sequences", "mode: windows") +
     "window: 0\nhorizon: 1\n", r"line 10: key 'window': must be a positive"),
])
def test_spec_mistakes_name_file_line_and_key(tmp_path, change, message):
    path = write(tmp_path, change(GOOD))
    with pytest.raises(SpecError, match=message) as error:
        load_spec(path)
    assert str(path) in str(error.value)


def test_empty_csv_is_named(tmp_path):
    with pytest.raises(SpecError, match=r"toy.csv: line 1: empty CSV"):
        load_spec(write(tmp_path, GOOD, csv_text=""))


def test_csv_without_header_says_so(tmp_path):
    with pytest.raises(SpecError, match=r"first row looks like data: the CSV "
                                        r"needs a header row"):
        load_spec(write(tmp_path, GOOD.replace("sequence_id: id",
                                               "sequence_id: '1'"),
                        csv_text="1,0,0.1,0.2,3,4\n"))


def test_co2_spec_forecasts_the_change_in_windows(tmp_path):
    spec = load_spec("schemas/co2/dataset.yaml")
    assert (spec.mode, spec.window, spec.horizon) == ("windows", 52, 1)
    assert spec.forecast_change is True and spec.label_feature == "co2_target"
    assert spec.schema.endswith("schemas/co2/schema.pbtxt")


@pytest.mark.parametrize("extra, message", [
    ("forecast_change: yes please\n", "must be true or false"),
    ("forecast_change: true\n", "needs mode 'windows', task 'regression'"),
])
def test_forecast_change_is_validated_by_line_and_key(tmp_path, extra,
                                                      message):
    (tmp_path / "x.csv").write_text("id,t,a,y\n")
    (tmp_path / "dataset.yaml").write_text(
        "name: x\ncsv: x.csv\nmode: sequences\nsequence_id: id\nstep: t\n"
        "features: [a]\nlabel: y\ntask: classification\n"
        "split: {eval_fraction: 0.2}\n" + extra)
    with pytest.raises(SpecError, match=r"line 10: key 'forecast_change': "
                                        + message):
        load_spec(tmp_path / "dataset.yaml")


def forecast_spec(tmp_path, extra="", features="[a, y]"):
    """A windows-mode regression spec; the label ``y`` is a feature unless
    ``features`` says otherwise."""
    (tmp_path / "x.csv").write_text("id,t,a,y\n")
    (tmp_path / "dataset.yaml").write_text(
        "name: x\ncsv: x.csv\nmode: windows\nsequence_id: id\nstep: t\n"
        f"features: {features}\nlabel: y\ntask: regression\n"
        "split: {eval_fraction: 0.2}\nwindow: 8\nhorizon: 2\n" + extra)
    return tmp_path / "dataset.yaml"


def test_forecast_change_defaults_on_when_the_label_is_a_feature(tmp_path):
    assert load_spec(forecast_spec(tmp_path)).forecast_change is True
    assert load_spec(forecast_spec(tmp_path, "forecast_change: false\n")
                     ).forecast_change is False
    own = load_spec(forecast_spec(tmp_path, features="[a]"))
    assert own.forecast_change is False and not own.forecasts_own_channel


@pytest.mark.parametrize("season, message", [
    ("0", "must be a positive integer"),
    ("1", r"needs horizon \(2\) <= season <= window \+ horizon - 1 \(9\), "
          r"got 1"),
    ("10", r"got 10"),
])
def test_season_must_put_its_value_inside_the_window(tmp_path, season,
                                                     message):
    with pytest.raises(SpecError, match=r"line 12: key 'season': .*" +
                       message):
        load_spec(forecast_spec(tmp_path, f"season: {season}\n"))
    assert load_spec(forecast_spec(tmp_path, "season: 9\n")).season == 9


def test_season_needs_a_forecast_of_the_labels_own_channel(tmp_path):
    with pytest.raises(SpecError, match=r"key 'season': needs mode "
                                        r"'windows', task 'regression' and "
                                        r"the label among the features"):
        load_spec(forecast_spec(tmp_path, "season: 4\n", features="[a]"))


def test_drift_thresholds_per_feature_and_label(tmp_path):
    path = write(tmp_path, GOOD + "drift_thresholds:\n  a: 0.3\n  y: 0\n")
    assert load_spec(path).drift_thresholds == {"a": 0.3, "y": 0.0}


@pytest.mark.parametrize("thresholds, message", [
    ("  a: -0.1\n", r"line 11: key 'drift_thresholds.a': must be a number "
                    r">= 0, got -0.1"),
    ("  b: high\n", r"line 11: key 'drift_thresholds.b': must be a number "
                    r">= 0, got 'high'"),
    ("  a: 0.1\n  temperature: 0.2\n",
     r"line 12: key 'drift_thresholds.temperature': unknown feature "
     r"\(known: a, b, y\)"),
    ("  b: .inf\n", r"line 11: key 'drift_thresholds.b': must be a number"),
])
def test_bad_drift_threshold_is_named_by_file_line_and_key(
        tmp_path, thresholds, message):
    path = write(tmp_path, GOOD + "drift_thresholds:\n" + thresholds)
    with pytest.raises(SpecError, match=rf"{path}: {message}"):
        load_spec(path)


def test_drift_thresholds_must_be_a_mapping(tmp_path):
    path = write(tmp_path, GOOD + "drift_thresholds: 0.2\n")
    with pytest.raises(SpecError, match=r"line 10: key 'drift_thresholds': "
                                        r"must be a mapping"):
        load_spec(path)


@pytest.mark.parametrize("raw, where", [
    (b"id,t,a,b,y,split\n1,0,0.1,0.2,x\x80,train\n", "line 2: not valid "
     "UTF-8 (byte 0x80 at character 14)"),
    ("id,t,a,b,y,split\n1,0,0.1,0.2,é,train\n".encode("latin-1"),
     "line 2: not valid UTF-8 (byte 0xe9 at character 13)"),
    ("id,t,a,b,y,split\n1,0,0.1,0.2,ü".encode("utf-8") + b"\x80\n",
     "line 2: not valid UTF-8 (byte 0x80 at character 14)"),
    (b"\xff\xfeid,t", "line 1: not valid UTF-8 (byte 0xff at character 1)"),
    # A PNG image renamed .csv: its 8-byte signature, then an IHDR chunk.
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10",
     "line 1: not valid UTF-8 (byte 0x89 at character 1)"),
])
def test_a_csv_that_is_not_utf8_is_named_by_file_and_line(raw, where):
    with pytest.raises(SpecError, match=re.escape(
            f"data.csv: {where}; save the file as UTF-8 text")):
        decode_csv("data.csv", raw)


def test_a_spec_whose_csv_header_is_not_utf8_is_refused(tmp_path):
    path = write(tmp_path, GOOD)
    (tmp_path / "toy.csv").write_bytes(b"id,t,a\xff,b,y,split\n")
    with pytest.raises(SpecError, match=re.escape(
            f"{tmp_path / 'toy.csv'}: line 1: not valid UTF-8 (byte 0xff at "
            f"character 7)")):
        load_spec(path)


@pytest.mark.parametrize("raw, where", [
    (b"id,t\x00,a,b,y,split\n", "line 1: a NUL byte (0x00) at character 5"),
    (b"id,t,a,b,y,split\n1,0,0.1\x00\x00,0.2,x,train\n",
     "line 2: a NUL byte (0x00) at character 8"),
])
def test_a_csv_holding_a_nul_byte_is_named_by_file_and_line(tmp_path, raw,
                                                            where):
    with pytest.raises(SpecError, match=re.escape(
            f"data.csv: {where}: binary data, not CSV text")):
        decode_csv("data.csv", raw)
    # Through the spec, as a user meets it: no traceback, the file named.
    path = write(tmp_path, GOOD)
    (tmp_path / "toy.csv").write_bytes(b"\x00" + raw)
    with pytest.raises(SpecError, match=re.escape(
            f"{tmp_path / 'toy.csv'}: line 1: a NUL byte (0x00) at "
            f"character 1")):
        load_spec(path)


def test_csv_lines_keep_quoted_newlines_and_drop_a_byte_order_mark():
    raw = '\ufeffid,note\n1,"two\nlines"\n2,x\u2028y\n'.encode("utf-8")
    rows = list(csv.reader(decode_csv("data.csv", raw)))
    assert rows == [["id", "note"], ["1", "two\nlines"], ["2", "x\u2028y"]]


def test_the_level_channel_name_is_reserved_with_forecast_change(tmp_path):
    path = forecast_spec(tmp_path, features="[anchor_level, y]")
    (tmp_path / "x.csv").write_text("id,t,anchor_level,y\n")
    with pytest.raises(SpecError, match=r"key 'features': 'anchor_level' is "
                                        r"reserved with forecast_change"):
        load_spec(path)
    (tmp_path / "dataset.yaml").write_text(
        path.read_text() + "forecast_change: false\n")
    assert load_spec(path).features == ["anchor_level", "y"]
