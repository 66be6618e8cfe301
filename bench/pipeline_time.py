"""Wall time of the whole `noisy-rnn run` command, and of each component,
over several fresh runs, then two reruns of the last one: an identical
rerun (the command's up-to-date check answers it) and one through TFX's
cache (the check's record removed first, as any change to MLMD would make
it); prints a table with medians.

Each run is the console script in a new process into a new output folder,
so process start, imports and the clean serving process are all included,
as a user sees them. Run it on an otherwise idle machine: on this project's
2-core machines a concurrent job moves the numbers by 10-30 %.

Usage:
    .venv/bin/python bench/pipeline_time.py [--runs 5] \
        [--dataset schemas/japanese_vowels/dataset.yaml] [--output DIR] \
        [-- MODEL OPTIONS, e.g. --conv-filters 64]
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from noisy_rnn.pipeline.config import PipelineConfig
from noisy_rnn.pipeline.ops import runner, up_to_date

PIPELINE_LINE = re.compile(r"^pipeline finished in ([\d.]+) s;")


def timed_run(command, config):
    """Runs ``command`` (a `noisy-rnn run` into ``config.output``); returns
    (wall seconds, pipeline seconds as the command printed them, the run's
    `RunSummary` from MLMD). Fails with the command's output."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True,
                          check=False)
    wall = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"error: {' '.join(command)} exited with "
                         f"{done.returncode}:\n{done.stdout}\n{done.stderr}")
    pipeline = [float(m[1]) for m in map(PIPELINE_LINE.match,
                                         done.stdout.splitlines()) if m]
    if not pipeline:
        raise SystemExit(f"error: no 'pipeline finished' line in the output "
                         f"of {' '.join(command)}:\n{done.stdout}")
    return wall, pipeline[0], runner.summarize_latest_run(config)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dataset",
                        default="schemas/japanese_vowels/dataset.yaml")
    parser.add_argument("--output", help="folder for the runs' outputs "
                        "(default: a temporary one, removed afterwards)")
    parser.add_argument("model_options", nargs="*",
                        help="passed to `noisy-rnn run` (after --)")
    args = parser.parse_args()
    script = os.path.join(os.path.dirname(sys.executable), "noisy-rnn")
    if not os.path.exists(script):
        raise SystemExit(f"error: {script} not found (run `make venv`)")
    root = args.output or tempfile.mkdtemp(prefix="pipeline_time_")

    def command(index):
        return [script, "run", "--dataset", args.dataset, "--output",
                os.path.join(root, f"run{index}"), *args.model_options]

    def config(index):  # enough to find the run in MLMD
        return PipelineConfig(dataset=args.dataset,
                              output=os.path.join(root, f"run{index}"))

    rows = []
    for index in range(args.runs):
        shutil.rmtree(os.path.join(root, f"run{index}"), ignore_errors=True)
        wall, pipeline, summary = timed_run(command(index), config(index))
        rows.append((wall, pipeline, summary.seconds))
        print(f"run {index + 1}: {wall:.1f} s wall, pipeline {pipeline:.1f} s",
              flush=True)
    last = args.runs - 1
    start = time.perf_counter()
    done = subprocess.run(command(last), capture_output=True, text=True,
                          check=True)
    identical_wall = time.perf_counter() - start
    answer = (done.stdout.splitlines()[2:3] or [""])[0]
    if not answer.startswith("up to date"):
        raise SystemExit(f"error: the identical rerun was not answered as up "
                         f"to date:\n{done.stdout}")
    os.remove(os.path.join(root, f"run{last}", up_to_date.RECORD))
    cached_wall, cached_pipeline, cached = timed_run(command(last),
                                                     config(last))

    names = sorted(n for n in rows[0][2] if any(r[2].get(n, 0) >= 0.1
                                                for r in rows))
    width = max(len(n) for n in names + ["pipeline"])
    print(f"\n{'seconds':<{width}} " + " ".join(
        f"{f'run {i + 1}':>6}" for i in range(len(rows))) + f" {'median':>7}")
    for label, values in (
            ("wall", [r[0] for r in rows]), ("pipeline", [r[1] for r in rows]),
            *((n, [r[2].get(n, 0.0) for r in rows]) for n in names)):
        print(f"{label:<{width}} " + " ".join(f"{v:6.1f}" for v in values) +
              f" {statistics.median(values):7.1f}")
    print(f"\nidentical rerun: {identical_wall:.2f} s wall "
          f"({identical_wall / statistics.median(r[0] for r in rows):.3f} "
          f"of the median fresh run): {answer[:60]}...")
    print(f"rerun through TFX's cache: {cached_wall:.1f} s wall, pipeline "
          f"{cached_pipeline:.1f} s, executed: "
          f"{', '.join(cached.executed()) or 'nothing (all cached)'}")
    if not args.output:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
