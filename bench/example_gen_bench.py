"""SequenceExampleGen alone: CSV rows/s, examples/s and peak memory of its
executor on the DirectRunner, on JapaneseVowels and larger copies of it
(see `flink_bench.scaled_copy`); the current code side by side with the
code of a git commit.

    .venv/bin/python bench/example_gen_bench.py --scales 1 50 200 \\
        --git-ref 4f846b1

Each run is a fresh process that runs ``Executor.Do`` as the pipeline
does (validation fraction 0.15, seed 0); the seconds are those of ``Do``
alone (no imports). The implementations alternate per scale (old, new, old,
new with ``--repeats 2``), so a load from other jobs on the machine hits
both alike. The old code is the two executor modules read with ``git show``
from the commit (the work tree is not touched). Peak memory: the largest
resident memory of the run's process, sampled every 0.2 s; "base" is its
resident memory just before ``Do`` (TensorFlow, TFX and Beam imported).
Prints numbers; asserts nothing.
"""

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flink_bench import (PeakMemory, _rss_kb, data_rows,  # noqa: E402
                         scaled_copy)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "components/sequence_example_gen"
VALIDATION_FRACTION = 0.15  # the pipeline's default


def _old_executor(git_ref):
    """The executor module as of ``git_ref``, with the example rules (and,
    where the commit has it, the TFRecord framing) of the same commit
    (loaded under names of their own)."""
    folder = tempfile.mkdtemp(prefix="example-gen-old-")
    modules = {}
    for name in ("examples", "tfrecords", "executor"):
        source = subprocess.run(
            ["git", "-C", REPO, "show", f"{git_ref}:{PACKAGE}/{name}.py"],
            check=False, capture_output=True)
        if source.returncode and name == "tfrecords":  # older commits
            continue
        source.check_returncode()
        path = os.path.join(folder, f"{name}.py")
        with open(path, "wb") as f:
            f.write(source.stdout)
        module_name = f"old_sequence_example_gen_{name}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        modules[name] = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = modules[name]
        spec.loader.exec_module(modules[name])
    modules["executor"].rules = modules["examples"]
    if "tfrecords" in modules:
        modules["executor"].tfrecords = modules["tfrecords"]
    return modules["executor"]


def run_child(args):
    """In the child process: one ``Executor.Do``; prints a JSON line."""
    # pylint: disable=import-outside-toplevel
    from tfx.types import standard_artifacts
    from tfx.utils import proto_utils

    from noisy_rnn.components.sequence_example_gen import (
        SequenceExampleGen, executor)
    from noisy_rnn.schemas.dataset_spec import load_spec
    if args.git_ref:
        executor = _old_executor(args.git_ref)
    component = SequenceExampleGen(dataset=load_spec(args.spec),
                                   validation_fraction=VALIDATION_FRACTION)
    properties = {key: proto_utils.proto_to_json(value)
                  if hasattr(value, "DESCRIPTOR") else value
                  for key, value in component.exec_properties.items()}
    examples = standard_artifacts.Examples()
    examples.uri = args.output
    shutil.rmtree(args.output, ignore_errors=True)
    os.makedirs(args.output)
    base = _rss_kb(os.getpid()) / 1024
    start = time.perf_counter()
    executor.Executor().Do({}, {"examples": [examples]}, properties)
    seconds = time.perf_counter() - start
    with open(os.path.join(args.output, "sequence_example_gen_report.json")) \
            as f:
        report = json.load(f)
    print(json.dumps({"seconds": seconds, "base_mb": base,
                      "examples": sum(v for k, v in report.items()
                                      if k.startswith("examples_"))}))


def bench_run(spec_path, output, git_ref):
    """``(result dict, peak MB)`` of one executor run in a new process."""
    command = [sys.executable, os.path.abspath(__file__), "--child",
               "--spec", spec_path, "--output", output]
    if git_ref:
        command += ["--git-ref", git_ref]
    process = subprocess.Popen(command, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    sampler = PeakMemory([process.pid])
    sampler.start()
    stdout, stderr = process.communicate()
    sampler.done.set()
    sampler.join()
    if process.returncode:
        raise SystemExit(f"run on {spec_path} failed:\n{stderr[-3000:]}")
    return json.loads(stdout.strip().splitlines()[-1]), sampler.peak


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 50, 200])
    parser.add_argument("--git-ref", default=None,
                        help="also time the executor of this commit")
    parser.add_argument("--only-old", action="store_true",
                        help="time only the --git-ref code")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--work", default="/tmp/noisy-rnn-example-gen-bench")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return run_child(args)
    variants = ([] if args.only_old else [("new", None)]) + (
        [(f"old ({args.git_ref})", args.git_ref)] if args.git_ref else [])
    table = []
    for scale in args.scales:
        folder = os.path.join(args.work, f"x{scale}")
        spec_path = os.path.join(folder, "dataset.yaml")
        if not os.path.exists(spec_path):
            scaled_copy(scale, folder)
        rows = data_rows(spec_path)
        for repeat in range(args.repeats):
            for name, git_ref in variants[::-1] if repeat % 2 else variants:
                result, peak = bench_run(spec_path,
                                         os.path.join(folder, "examples"),
                                         git_ref)
                line = (scale, name, rows, result["examples"],
                        result["seconds"], peak, result["base_mb"])
                table.append(line)
                print(f"x{scale} {name}: {rows} rows, {result['examples']} "
                      f"examples in {result['seconds']:.1f} s; peak "
                      f"{peak:.0f} MB (base {result['base_mb']:.0f} MB)",
                      flush=True)
    print("\n| data | code | rows | examples | seconds | rows/s | examples/s "
          "| peak memory (base) |")
    print("|---|---|---|---|---|---|---|---|")
    for scale, name, rows, count, seconds, peak, base in table:
        print(f"| x{scale} | {name} | {rows} | {count} | {seconds:.1f} | "
              f"{rows / seconds:,.0f} | {count / seconds:,.0f} | "
              f"{peak:.0f} MB ({base:.0f} MB) |")
    return None


if __name__ == "__main__":
    main()
