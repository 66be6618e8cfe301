"""The embedded JapaneseVowels long CSV and its converter."""

import csv
import pathlib

import pytest
from repo_files import load_script

REPO = pathlib.Path(__file__).resolve().parents[2]
RAW = REPO.parent / "shared" / "data" / "japanese_vowels"


def convert_module():
    """Imports ``data/convert_japanese_vowels.py`` (a script, not a package)."""
    return load_script("data/convert_japanese_vowels.py")


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_csv_holds_the_archive_split_and_shapes():
    rows = read_rows(REPO / "data" / "japanese_vowels.csv")
    assert list(rows[0]) == (["sequence_id", "step"] +
                             [f"c{i}" for i in range(12)] + ["speaker", "split"])
    sequences = {}
    for row in rows:
        sequences.setdefault(row["sequence_id"], []).append(row)
    splits = [seq[0]["split"] for seq in sequences.values()]
    assert splits.count("train") == 270 and splits.count("eval") == 370
    lengths = [len(seq) for seq in sequences.values()]
    assert min(lengths) == 7 and max(lengths) == 29
    for seq in sequences.values():
        assert [int(r["step"]) for r in seq] == list(range(len(seq)))
        assert len({r["speaker"] for r in seq}) == 1
    assert {seq[0]["speaker"] for seq in sequences.values()} == \
        {str(i) for i in range(1, 10)}


def test_converter_parses_the_ts_format(tmp_path):
    convert = convert_module()
    header = "@problemName X\n@data\n"
    line = ":".join(",".join(f"{c}.{t}" for t in range(3)) for c in range(12))
    (tmp_path / "JapaneseVowels_TRAIN.ts").write_text(
        "# comment\n" + header + line + ":4\n")
    (tmp_path / "JapaneseVowels_TEST.ts").write_text(header + line + ":7\n")
    counts = convert.convert(tmp_path, tmp_path / "out.csv")
    assert counts == {"train": 1, "eval": 1}
    rows = read_rows(tmp_path / "out.csv")
    assert len(rows) == 6
    assert rows[0]["c11"] == "11.0" and rows[2]["c3"] == "3.2"
    assert rows[3]["sequence_id"] == "eval-000" and rows[3]["speaker"] == "7"


def test_converter_names_file_and_line_of_a_malformed_sequence(tmp_path):
    convert = convert_module()
    (tmp_path / "JapaneseVowels_TRAIN.ts").write_text("@data\n1,2:3,4:5\n")
    with pytest.raises(ValueError, match=r"TRAIN\.ts:2: expected 12 channels"):
        convert.convert(tmp_path, tmp_path / "out.csv")


def test_archive_converter_reads_the_ucr_text_format(tmp_path):
    """`data/convert_uea.py` on the UCR archive's text files (label, then
    values, whitespace or commas; labels written as floats): the same long
    CSV as from `.ts` files, and a missing value named by file and line."""
    convert = load_script("data/convert_uea.py")
    (tmp_path / "X_TRAIN.txt").write_text(
        "   1.0000000e+00   2.5e-01  -1.0\n\n   2.0000000e+00   3   4\n")
    (tmp_path / "X_TEST.txt").write_text("1,7,8\n")
    spec, counts = convert.convert(tmp_path, "X", tmp_path / "out")
    assert counts == {"train": 2, "eval": 1}
    rows = read_rows(tmp_path / "out" / "X.csv")
    assert [(r["sequence_id"], r["step"], r["c0"], r["label"], r["split"])
            for r in rows] == [
        ("train-0000", "0", "2.5e-01", "1", "train"),
        ("train-0000", "1", "-1.0", "1", "train"),
        ("train-0001", "0", "3", "2", "train"),
        ("train-0001", "1", "4", "2", "train"),
        ("eval-0000", "0", "7", "1", "eval"),
        ("eval-0000", "1", "8", "1", "eval")]
    assert "features: [c0]" in pathlib.Path(spec).read_text()
    (tmp_path / "X_TRAIN.txt").write_text("1 2 3\n2 4 NaN\n")
    with pytest.raises(ValueError, match=r"X_TRAIN\.txt:2: missing value"):
        convert.convert(tmp_path, "X", tmp_path / "out")


@pytest.mark.skipif(not RAW.is_dir(), reason="raw UEA files not on this machine")
def test_committed_csv_is_the_conversion_of_the_raw_files(tmp_path):
    convert_module().convert(RAW, tmp_path / "fresh.csv")
    assert (tmp_path / "fresh.csv").read_bytes() == \
        (REPO / "data" / "japanese_vowels.csv").read_bytes()


CO2_RAW = REPO.parent / "shared" / "data" / "co2" / "co2.csv"


def test_co2_csv_is_one_row_per_week_with_gaps_left_empty():
    rows = read_rows(REPO / "data" / "co2" / "co2.csv")
    assert list(rows[0]) == ["series", "week", "date", "co2"]
    assert [int(r["week"]) for r in rows] == list(range(2284))
    assert (rows[0]["date"], rows[-1]["date"]) == ("1958-03-29",
                                                   "2001-12-29")
    assert sum(r["co2"] == "" for r in rows) == 59
    assert {r["series"] for r in rows} == {"mauna_loa"}


@pytest.mark.skipif(not CO2_RAW.exists(), reason="raw CO2 file not present")
def test_co2_reconverts_byte_identically(tmp_path):
    module = load_script("data/convert_co2.py")
    assert module.convert(CO2_RAW, tmp_path / "co2.csv") == (2284, 59)
    assert (tmp_path / "co2.csv").read_bytes() == \
        (REPO / "data" / "co2" / "co2.csv").read_bytes()
