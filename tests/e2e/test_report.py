"""The HTML run report, opened in headless Chromium, and the quiet CLI.

Two real runs: the shared short JapaneseVowels run (classification,
`runner.run`) and a short CO2 run through the ``noisy-rnn`` console
script (regression), whose terminal output is also checked: our lines
only, the libraries' output in the run's log file.
"""

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest
from browser import open_report
from conftest import LOOSE_BUDGET_FLAGS, SHORT

from noisy_rnn.pipeline.ops.report import collect
from noisy_rnn.schemas import contracts

NOISY_RNN = pathlib.Path(sys.executable).with_name("noisy-rnn")
SECTIONS = ["summary", "data", "tuning", "training", "evaluation", "serving"]
SCREENSHOTS = os.environ.get("REPORT_SCREENSHOTS")  # folder, optional

# What the libraries print and our terminal must not show.
LIBRARY_LINE = re.compile(
    r"WARNING|Warning|warnings\.warn|Traceback|^  File \"|"
    r"Instructions for updating|"
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] |^[IWEF]\d{4} |"
    r"ArtifactQuery|absl|tensorflow/")
# The shapes of our lines: "label: text" (log:, examples:, blessed:,
# pushed:, report:, ...), indented detail (progress, metrics, checks), and
# the run's closing line.
OUR_LINE = re.compile(r"[A-Za-z][\w ()-]*: |  \S|pipeline finished in ")


def cli_flags(config):
    return [f"--{name.replace('_', '-')}={value}"
            for name, value in config.items()]


@pytest.fixture(scope="module")
def co2_cli_run(tmp_path_factory):
    """``(output folder, CompletedProcess)`` of ``noisy-rnn run`` on CO2."""
    output = tmp_path_factory.mktemp("co2")
    run = subprocess.run(
        [str(NOISY_RNN), "run", "--dataset", "co2", "--output", str(output),
         *cli_flags(SHORT), *LOOSE_BUDGET_FLAGS], capture_output=True,
        text=True, check=False)
    return output, run


def check_report_in_browser(output, name, expected_images):
    """Loads ``index.html`` and ``history.html``: no console error, every
    image loaded and not blank, every section present, nothing missing."""
    index = os.path.join(output, "report", "index.html")
    shot = os.path.join(SCREENSHOTS, f"{name}.png") if SCREENSHOTS else None
    probe, errors = open_report(index, screenshot_to=shot)
    assert errors == []
    assert probe["sections"] == SECTIONS
    assert "Not available" not in probe["text"]
    assert {image["alt"] for image in probe["images"]} >= expected_images
    for image in probe["images"]:
        assert image["complete"] and image["width"] > 0, image
        assert image["varied"], f"blank image: {image['alt']}"
    history, errors = open_report(os.path.join(output, "report",
                                               "history.html"))
    assert errors == []
    assert history["sections"] == ["history"]
    assert [image["alt"] for image in history["images"]] == [
        "metric over runs"]
    assert all(image["varied"] for image in history["images"])
    return probe


def test_classification_report_shows_every_section(japanese_vowels):
    config, summary = japanese_vowels
    assert summary.report_path == os.path.join(config.output, "report",
                                               "index.html")
    probe = check_report_in_browser(
        config.output, "japanese_vowels",
        {"component timeline", "examples per split", "training curves",
         "confusion matrix", "per-class accuracy"})
    version = os.path.basename(summary.pushed_path)
    assert f"Pushed version {version}" in probe["text"]
    assert "sparse_categorical_accuracy" in probe["text"]
    assert "Early stopping kept step" in probe["text"]
    # Beside the MiniRocket path: which candidate the kept round was.
    assert re.search(r"It is the (linear path alone|linear path and the "
                     r"trained branches together|trained branches alone)"
                     r".*\(validation loss with the path [\d.]+, the "
                     r"branches alone [\d.]+\)", probe["text"]), probe["text"]
    assert "p99, batch 1" in probe["text"]  # the serving latency table
    # The Trainer's choice from the data: the value it resolved (not the
    # 0 it was given) and its reason.
    assert re.search(r"downsample\s+1\s+225 training examples of 7-",
                     probe["text"]), probe["text"]
    assert "within the recurrent layers' target" in probe["text"]


def test_regression_report_shows_forecast_against_the_references(co2_cli_run):
    output, run = co2_cli_run
    assert run.returncode == 0, run.stderr
    probe = check_report_in_browser(
        output, "co2", {"component timeline", "examples per split",
                        "training curves", "forecast mauna_loa"})
    assert re.search(r"model MAE [\d.]+, persistence MAE [\d.]+, "
                     r"least-squares AR MAE [\d.]+", probe["text"])
    assert "windows skipped" in probe["text"]


def reported_and_loaded_predictions(output, tmp_path):
    """``(the report's cached predictions, the same computed here by
    loading the pushed model's SavedModel, the ServingValidator's outputs
    file)`` of the latest run in ``output``."""
    run = collect.list_runs(str(output))[-1]
    by_node = collect.executions(str(output), run.id)
    spec, _ = collect.trainer_settings(by_node)
    model = collect.output_artifact(str(output), by_node["Trainer"], "model")
    examples = collect.output_artifact(str(output),
                                       by_node["SequenceExampleGen"],
                                       "examples")
    blessing = collect.output_artifact(str(output),
                                       by_node["ServingValidator"], "blessing")
    with open(os.path.join(output, "report", "cache",
                           f"predictions-{model.id}.json")) as f:
        reported = json.load(f)
    loaded = collect.predictions(str(tmp_path), model.uri, model.id,
                                 examples.uri, spec)  # no served outputs
    with open(os.path.join(blessing.uri,
                           contracts.SERVING_EVAL_OUTPUTS)) as f:
        served = json.load(f)
    return reported, loaded, served


def test_the_reports_predictions_are_the_clean_processs_on_every_eval_example(
        japanese_vowels, co2_cli_run, tmp_path):
    """The ServingValidator's clean process wrote the model's outputs on
    the whole eval split; the report plotted them, equal to the model's
    own when loaded in-process."""
    config, summary = japanese_vowels
    reported, loaded, served = reported_and_loaded_predictions(
        config.output, tmp_path / "jv")
    assert served["examples"] == summary.example_counts["examples_eval"]
    assert len(served["outputs"][contracts.CLASSES]) == served["examples"]
    assert reported == loaded
    output, run = co2_cli_run
    assert run.returncode == 0, run.stderr
    reported, loaded, served = reported_and_loaded_predictions(
        output, tmp_path / "co2")
    assert set(served["outputs"]) == {contracts.PREDICTION,
                                      contracts.LEAST_SQUARES_AR}
    assert reported == loaded
    assert len(reported["predicted"]) == served["examples"] > 0


def test_a_default_run_prints_only_our_lines_and_logs_the_rest(co2_cli_run):
    output, run = co2_cli_run
    assert run.returncode == 0, run.stderr
    printed = (run.stdout + run.stderr).splitlines()
    for line in printed:
        assert not LIBRARY_LINE.search(line), line
        assert OUR_LINE.match(line), f"not one of our lines: {line!r}"
    assert printed[-1].startswith(f"report: {output}/report/index.html")
    # The Trainer's eval rounds, as they happen (the last one is followed
    # by seconds of export, so the monitor's 0.5 s polls see it).
    assert any(re.fullmatch(r"  Trainer +step 60 of 60: val_loss [\d.]+, "
                            r"val_mae [\d.]+", line) for line in printed)
    [log] = (output / "logs").iterdir()
    assert printed[1] == f"log: {log}"
    text = log.read_text()
    assert "WARNING:absl:" in text  # what the terminal was spared
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] "
                     r"\S+\.cc:\d+\]", text, re.M)  # TensorFlow's C++ log
    for line in printed:  # and our lines, in the same order
        assert line in text


def summary_lines(stdout):
    """A run's printed summary: from ``pipeline finished in`` on."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines)
                 if line.startswith("pipeline finished in "))
    return lines[start:]


def test_an_identical_rerun_is_up_to_date_without_tensorflow(co2_cli_run):
    """The same command again: the last run's summary, said without
    importing TensorFlow (imports are traced into the run's log), MLMD and
    the report untouched. Once MLMD has changed (as another run or a
    retrain would change it), the pipeline runs, each component from TFX's
    cache."""
    output, first = co2_cli_run
    assert first.returncode == 0, first.stderr
    command = [str(NOISY_RNN), "run", "--dataset", "co2", "--output",
               str(output), *cli_flags(SHORT), *LOOSE_BUDGET_FLAGS]
    metadata = output / "metadata.sqlite"
    report = output / "report" / "index.html"
    untouched = (metadata.stat().st_mtime_ns, report.stat().st_mtime_ns)
    logs = set((output / "logs").iterdir())
    again = subprocess.run(command, capture_output=True, text=True,
                           check=False,
                           env=dict(os.environ, PYTHONPROFILEIMPORTTIME="1"))
    assert again.returncode == 0, again.stderr
    printed = again.stdout.splitlines()
    assert printed[2].startswith("up to date: data, spec, options, code and "
                                 "outputs are as the run finished at ")
    assert printed[3:] == summary_lines(first.stdout)
    assert (metadata.stat().st_mtime_ns,
            report.stat().st_mtime_ns) == untouched
    [log] = set((output / "logs").iterdir()) - logs
    imported = log.read_text()
    assert "| noisy_rnn.pipeline.ops.up_to_date" in imported  # traced
    assert "| tensorflow" not in imported and "| tfx" not in imported

    stat = metadata.stat()
    os.utime(metadata, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    rerun = subprocess.run(command, capture_output=True, text=True,
                           check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert "up to date" not in rerun.stdout
    assert re.search(r"^pipeline finished in [\d.]+ s; executed: nothing "
                     r"\(all cached\)$", rerun.stdout, re.M)


def test_report_of_a_folder_without_a_run_names_what_is_missing(tmp_path):
    run = subprocess.run([str(NOISY_RNN), "report", "--output",
                          str(tmp_path)], capture_output=True, text=True,
                         check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"report: {tmp_path}/report/index.html")
    probe, errors = open_report(tmp_path / "report" / "index.html")
    assert errors == []
    assert probe["sections"] == SECTIONS
    assert probe["text"].count(f"Not available: no run in {tmp_path}") == \
        len(SECTIONS)


def test_report_of_a_missing_folder_is_one_line(tmp_path):
    run = subprocess.run([str(NOISY_RNN), "report", "--output",
                          str(tmp_path / "nope")], capture_output=True,
                         text=True, check=False)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [
        f"error: --output {tmp_path / 'nope'}: no such folder (pass the "
        f"folder given to `noisy-rnn run --output`)"]
