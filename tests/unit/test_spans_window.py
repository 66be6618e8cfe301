"""The rolling window of spans (``--spans-window K``): which spans a window
reads, and every wrong window refused by name before anything runs."""

import pytest

from noisy_rnn.pipeline import cli
from noisy_rnn.pipeline.config import PipelineConfig
from noisy_rnn.schemas.dataset_spec import SpecError, load_spec
from noisy_rnn.schemas.spans import list_spans, window_spans


def make_spans(folder, numbers):
    for number in numbers:
        (folder / f"span-{number}").mkdir(parents=True)
        (folder / f"span-{number}" / "part.csv").write_text("a,b\n")
    (folder / "span-9").mkdir()  # no CSV: not a span
    (folder / "notes").mkdir()


def test_a_bad_option_is_an_error_naming_it_not_an_exit(tmp_path):
    """The Airflow DAG parses its options with `cli.pipeline_config`: a
    mistake must be an exception Airflow records, with the CLI's words."""
    with pytest.raises(ValueError, match=r"--spans-window: must be a "
                                         r"positive integer, got '0'"):
        cli.pipeline_config(["--dataset", "co2", "--output", str(tmp_path),
                             "--spans-dir", str(tmp_path),
                             "--spans-window", "0"])


def test_zero_padded_span_folders_are_read_as_spelled(tmp_path):
    from noisy_rnn.schemas.spans import span_numbers  # pylint: disable=import-outside-toplevel
    make_spans(tmp_path, [])
    for name in ("span-08", "span-09", "span-10"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "part.csv").write_text("a,b\n")
    assert span_numbers(tmp_path) == {8: "08", 9: "09", 10: "10"}
    assert window_spans(str(tmp_path), 2)[0] == [9, 10]


def test_the_window_is_the_latest_k_spans(tmp_path):
    make_spans(tmp_path, [1, 2, 3, 4])
    assert list_spans(tmp_path) == [1, 2, 3, 4]
    assert window_spans(str(tmp_path), 2) == ([3, 4], "spans 3-4")
    assert window_spans(str(tmp_path), 1) == ([4], "span 4")
    assert window_spans(str(tmp_path), 2, latest=3)[0] == [2, 3]


def test_a_window_larger_than_the_spans_present_says_what_it_uses(tmp_path):
    make_spans(tmp_path, [1, 2, 3])
    spans, note = window_spans(str(tmp_path), 5)
    assert spans == [1, 2, 3]
    assert note == ("spans 1-3 (--spans-window 5, but only 3 spans up to "
                    "span 3)")


def test_a_span_missing_inside_the_window_is_refused_by_name(tmp_path):
    make_spans(tmp_path, [1, 2, 4])
    with pytest.raises(ValueError, match=r"span-3 is missing .* window of "
                                         r"3 spans 2-4"):
        window_spans(str(tmp_path), 3)
    assert window_spans(str(tmp_path), 1) == ([4], "span 4")


def test_no_span_at_all_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no span-<N>/ folder with a CSV"):
        window_spans(str(tmp_path), 2)


@pytest.mark.parametrize("value", ["0", "-2", "two"])
def test_the_option_refuses_what_is_not_a_positive_integer(value, capsys):
    with pytest.raises(SystemExit) as raised:
        cli.build_parser().parse_args(
            ["run", "--dataset", "co2", "--output", "out", "--spans-dir",
             "in", "--spans-window", value])
    assert raised.value.code == 2
    assert "--spans-window" in capsys.readouterr().err


def test_a_window_needs_a_spans_folder(tmp_path):
    with pytest.raises(ValueError, match="--spans-window 2: needs "
                                         "--spans-dir"):
        cli.pipeline_config(["--dataset", "co2", "--output",
                             str(tmp_path), "--spans-window", "2"])


def test_the_spec_key_sets_the_window_and_the_option_wins(tmp_path):
    spec = load_spec("co2")
    text = open(spec.path).read() + "spans_window: 3\n"
    (tmp_path / "dataset.yaml").write_text(
        text.replace("csv: ", f"csv: {spec.csv} #", 1))
    dataset = str(tmp_path / "dataset.yaml")
    assert load_spec(dataset).spans_window == 3
    config = PipelineConfig(dataset=dataset, output=str(tmp_path / "o"),
                            spans_dir=str(tmp_path))
    assert config.spans_window == 3
    assert cli.pipeline_config(
        ["--dataset", dataset, "--output", str(tmp_path / "o"),
         "--spans-dir", str(tmp_path), "--spans-window", "2"]
    ).spans_window == 2
    # Without spans, the spec's CSV is read: the key does not apply.
    assert PipelineConfig(dataset=dataset,
                          output=str(tmp_path / "o")).spans_window == 1


def test_a_wrong_spec_key_names_file_line_and_key(tmp_path):
    spec = load_spec("co2")
    text = open(spec.path).read().replace("csv: ", f"csv: {spec.csv} #", 1)
    (tmp_path / "dataset.yaml").write_text(text + "spans_window: 0\n")
    with pytest.raises(SpecError, match=r"dataset.yaml: line \d+: key "
                                        r"'spans_window': must be a positive"):
        load_spec(str(tmp_path / "dataset.yaml"))
