"""The CLI's console: our lines on the terminal, everything else (child
processes, writes to the file descriptors) in the log; and the Trainer's
progress file the progress monitor reads."""

import json
import subprocess
import sys
import textwrap

from noisy_rnn.pipeline.trainer.progress import TrainingProgress

SCRIPT = textwrap.dedent("""
    import os, subprocess, sys
    from noisy_rnn.pipeline.ops.console import Console
    console = Console(sys.argv[1], "run", verbose=sys.argv[2] == "1").start()
    console.echo("ours: started")
    print("library print")
    os.write(2, b"native stderr line\\n")
    subprocess.run(["sh", "-c", "echo child process line >&2"])
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        console.error("pipeline failed: boom")
    console.echo("ours: done")
    console.close()
""")


def run_console(tmp_path, verbose):
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path),
                           "1" if verbose else "0"], capture_output=True,
                          text=True, check=True)
    [log] = tmp_path.iterdir()
    return done, log


def test_only_our_lines_reach_the_terminal_and_the_log_holds_all(tmp_path):
    done, log = run_console(tmp_path, verbose=False)
    assert done.stdout.splitlines() == ["ours: started", "ours: done"]
    assert done.stderr.splitlines() == [
        f"error: pipeline failed: boom (log: {log})"]
    text = log.read_text()
    for line in ("ours: started", "library print", "native stderr line",
                 "child process line", "RuntimeError: boom",
                 "error: pipeline failed: boom", "ours: done"):
        assert line in text


def test_verbose_shows_the_libraries_and_the_traceback_too(tmp_path):
    done, log = run_console(tmp_path, verbose=True)
    shown = done.stdout + done.stderr
    for line in ("ours: started", "library print", "native stderr line",
                 "child process line", "RuntimeError: boom", "ours: done"):
        assert line in shown and line in log.read_text()


def test_a_reader_that_leaves_early_only_ends_the_terminal_lines(tmp_path):
    """``noisy-rnn run ... | head -1``: once the pipe is closed our lines
    go on into the log, with no traceback and a clean exit."""
    script = textwrap.dedent("""
        import sys, time
        from noisy_rnn.pipeline.ops.console import Console
        console = Console(sys.argv[1], "run").start()
        console.echo("first")
        time.sleep(1)  # the reader has read one line and left
        for i in range(3):
            console.echo(f"line {i}")
        console.close()
    """)
    with subprocess.Popen([sys.executable, "-c", script, str(tmp_path)],
                          stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as process:
        assert process.stdout.readline() == b"first\n"
        process.stdout.close()
        assert process.wait(timeout=60) == 0, process.stderr.read()
        assert process.stderr.read() == b""
    [log] = tmp_path.iterdir()
    assert log.read_text().splitlines()[-3:] == ["line 0", "line 1",
                                                 "line 2"]


def test_training_progress_file_follows_steps_and_rounds(tmp_path):
    progress = TrainingProgress(str(tmp_path), total_steps=100,
                                every_seconds=3600)
    progress.step(1)  # the first step is written at once
    progress.step(2)  # then not before an hour, or a round
    path = tmp_path / "progress.json"
    assert json.loads(path.read_text()) == {
        "step": 1, "total_steps": 100, "rounds": 0, "latest": None}
    progress.eval_round({"step": 2, "val_loss": 0.5})
    assert json.loads(path.read_text()) == {
        "step": 2, "total_steps": 100, "rounds": 1,
        "latest": {"step": 2, "val_loss": 0.5}}
