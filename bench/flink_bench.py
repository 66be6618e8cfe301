"""Per-component times of the pipeline, Beam's DirectRunner vs the local
Flink cluster, on JapaneseVowels and on larger generated copies of it; with
the peak memory of each run.

    .venv/bin/python bench/flink_bench.py --scales 1 10 50

A copy ×N holds every sequence N times under new ids, copies 2..N with small
noise (1 % of each channel's standard deviation, clipped to the channel's
range so the curated schema still holds), in the original train/eval split.
Each run is a fresh ``noisy-rnn run`` process (short model config, as the
tests use: the Trainer's share stays small); per-component seconds come from
MLMD, and from them SequenceExampleGen's CSV rows/s and the Evaluator's
eval examples/s, beside the model's own rate on the same examples (its
serving signature alone, batches of 1,000: what the Evaluator cannot
beat). Peak memory: the largest sum of resident memory, sampled every 0.2 s,
of the run's process tree plus (on Flink) the cluster's JVMs and Python
workers. Starts the local cluster if it is not up (and leaves it up).
"""

import argparse
import csv
import os
import shutil
import subprocess
import sys
import threading
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from conftest import SHORT  # noqa: E402

from noisy_rnn.pipeline.config import ModelConfig, PipelineConfig  # noqa: E402
from noisy_rnn.pipeline.ops import (flink_cluster, run_records,  # noqa: E402
                                    runner)
from noisy_rnn.pipeline.pipeline import BEAM_COMPONENTS  # noqa: E402
from noisy_rnn.schemas import contracts  # noqa: E402
from noisy_rnn.schemas.dataset_spec import load_spec  # noqa: E402

SHOWN = list(BEAM_COMPONENTS) + ["Trainer"]
# Per-second figures: SequenceExampleGen's CSV rows, the Evaluator's eval
# examples, and the same examples through the model alone.
RATES = ("rows/s", "eval/s", "model eval/s")


def scaled_copy(scale, folder, seed=0):
    """A JapaneseVowels dataset (spec, schema, CSV) ``scale`` times as
    large, in ``folder``; returns its dataset.yaml."""
    spec = load_spec("japanese_vowels")
    os.makedirs(folder, exist_ok=True)
    with open(spec.csv) as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    columns = [header.index(c) for c in spec.features]
    values = np.array([[float(r[c]) for c in columns] for r in body])
    low, high = values.min(0), values.max(0)
    noise_std = 0.01 * values.std(0)
    rng = np.random.default_rng(seed)
    id_column = header.index(spec.sequence_id)
    path = os.path.join(folder, "data.csv")
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for copy in range(scale):
            noisy = values if copy == 0 else np.clip(
                values + rng.normal(0, noise_std, values.shape), low, high)
            for row, new in zip(body, noisy):
                row = list(row)
                row[id_column] = f"{row[id_column]}-r{copy}"
                for column, value in zip(columns, new):
                    row[column] = f"{value:.6f}"
                writer.writerow(row)
    with open(spec.path) as f:
        text = f.read()
    text = text.replace("csv: ../../data/japanese_vowels.csv", "csv: data.csv")
    text = text.replace("name: japanese_vowels", f"name: jv_x{scale}")
    with open(os.path.join(folder, "dataset.yaml"), "w") as f:
        f.write(text)
    shutil.copy(spec.schema, os.path.join(folder, "schema.pbtxt"))
    return os.path.join(folder, "dataset.yaml")


def data_rows(spec_path):
    """Rows of the copy's CSV, its header excluded."""
    with open(os.path.join(os.path.dirname(spec_path), "data.csv"),
              "rb") as f:
        return sum(1 for _ in f) - 1


def _rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children():
    """``{pid: [child pids]}`` of every process."""
    tree = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    parent = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(parent, []).append(int(name))
    return tree


def tree_rss_mb(roots):
    tree, seen, stack = _children(), set(), list(roots)
    while stack:
        pid = stack.pop()
        if pid not in seen:
            seen.add(pid)
            stack.extend(tree.get(pid, []))
    return sum(_rss_kb(p) for p in seen) / 1024


class PeakMemory(threading.Thread):
    """Samples the resident memory of process trees until stopped."""

    def __init__(self, roots):
        super().__init__(daemon=True)
        self.roots, self.peak, self.done = roots, 0.0, threading.Event()

    def run(self):
        while not self.done.wait(0.2):
            self.peak = max(self.peak, tree_rss_mb(self.roots))


def model_examples_per_second(config, summary, batch=1000, passes=2):
    """The run's model alone on its eval split: serialized examples through
    ``serving_default`` in batches of ``batch``, the best of ``passes``
    (after one warm-up call). The Evaluator cannot beat this rate: it
    makes the same calls, plus TFMA's work around them."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    with run_records.open_store(config) as m:
        [model] = m.store.get_artifacts_by_id([summary.model_id])
        examples = max((a for a in m.store.get_artifacts_by_type("Examples")
                        if "/SequenceExampleGen/" in a.uri),
                       key=lambda a: a.id)
    signature = tf.saved_model.load(os.path.join(
        model.uri, "Format-Serving")).signatures[contracts.SERVING_DEFAULT]
    [name] = signature.structured_input_signature[1]
    records = [r.numpy() for r in tf.data.TFRecordDataset(
        tf.io.gfile.glob(os.path.join(examples.uri, "Split-eval", "*")),
        compression_type="GZIP")]
    batches = [tf.constant(records[i:i + batch])
               for i in range(0, len(records), batch)]
    signature(**{name: batches[0]})
    best = float("inf")
    for _ in range(passes):
        start = time.perf_counter()
        for values in batches:
            signature(**{name: values})
        best = min(best, time.perf_counter() - start)
    return len(records) / best


def bench_run(spec_path, output, runner_name):
    """``(per-component seconds, wall seconds, peak MB, rates)`` of one run;
    rates: CSV rows/s of SequenceExampleGen, eval examples/s of the
    Evaluator and of the model alone (`model_examples_per_second`)."""
    shutil.rmtree(output, ignore_errors=True)
    command = [os.path.join(os.path.dirname(sys.executable), "noisy-rnn"),
               "run", "--dataset", spec_path, "--output", output,
               "--runner", runner_name]
    for key, value in SHORT.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    roots = []
    if runner_name == "flink":
        roots += list(flink_cluster.read_state()["pids"].values())
        roots += list(flink_cluster.flink_pids().values())
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    sampler = PeakMemory(roots + [process.pid])
    sampler.start()
    _, stderr = process.communicate()
    wall = time.perf_counter() - start
    sampler.done.set()
    sampler.join()
    if process.returncode:
        raise SystemExit(f"{runner_name} run on {spec_path} failed: "
                         f"{stderr.strip().splitlines()[-1:]}")
    config = PipelineConfig(dataset=spec_path, output=output,
                            model=ModelConfig(**SHORT))
    summary = runner.summarize_latest_run(config)
    rates = {"rows/s": data_rows(spec_path) /
             summary.seconds["SequenceExampleGen"],
             "eval/s": summary.example_counts["examples_eval"] /
             summary.seconds["Evaluator"],
             "model eval/s": model_examples_per_second(config, summary)}
    return summary.seconds, wall, sampler.peak, rates


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--runners", nargs="+", default=["direct", "flink"])
    parser.add_argument("--work", default="/tmp/noisy-rnn-flink-bench")
    args = parser.parse_args()
    if "flink" in args.runners:
        print(flink_cluster.describe(flink_cluster.start()), flush=True)
    rows = []
    for scale in args.scales:
        spec_path = scaled_copy(scale, os.path.join(args.work, f"x{scale}"))
        for runner_name in args.runners:
            seconds, wall, peak, rates = bench_run(
                spec_path, os.path.join(args.work, f"run-x{scale}-"
                                                   f"{runner_name}"),
                runner_name)
            rows.append((scale, runner_name, seconds, wall, peak, rates))
            print(f"x{scale} {runner_name}: " + ", ".join(
                f"{c} {seconds.get(c, 0):.1f}" for c in SHOWN) +
                f"; wall {wall:.0f} s; peak {peak:.0f} MB; " + ", ".join(
                    f"{k} {v:,.0f}" for k, v in rates.items()), flush=True)
    print("\n| data | runner | " + " | ".join(SHOWN) +
          " | run (wall) | peak memory | " + " | ".join(RATES) + " |")
    print("|---|---|" + "---|" * (len(SHOWN) + 2 + len(RATES)))
    for scale, runner_name, seconds, wall, peak, rates in rows:
        print(f"| ×{scale} | {runner_name} | " + " | ".join(
            f"{seconds.get(c, 0):.1f} s" for c in SHOWN) +
            f" | {wall:.0f} s | {peak / 1024:.1f} GB | " + " | ".join(
                f"{rates[k]:,.0f}" for k in RATES) + " |")


if __name__ == "__main__":
    main()
