"""Calibration of the DriftGate's default thresholds: the distances it
measures between consecutive *natural* spans, next to those of the four
corruptions it must refuse, on CO2, JapaneseVowels and a generated dataset.

Each dataset is cut into cumulative spans (as data arriving over time is
exported); every span's statistics come from the pipeline's own
SequenceExampleGen and StatisticsGen (a two-component TFX run). Span k+1 is
compared with span k's train split, split by split, exactly as the gate
compares a new span with the served model's training data; then span k+1
corrupted four ways (a feature x1000, +3 standard deviations, two features
swapped, the label collapsed to one class) is compared the same way.
Prints one row per comparison and, per measure, the largest natural and the
smallest corrupted distance next to the default threshold.

Usage:
    .venv/bin/python bench/drift_calibration.py [--spans 4] [--work DIR]
"""

import argparse
import glob
import importlib.util
import os
import shutil
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfx.components import SchemaGen, StatisticsGen  # noqa: E402
from tfx.orchestration import metadata  # noqa: E402
from tfx.orchestration.local.local_dag_runner import \
    LocalDagRunner  # noqa: E402
from tfx.orchestration.pipeline import Pipeline  # noqa: E402
from tfx.utils import io_utils  # noqa: E402

from noisy_rnn.components.drift_gate import drift  # noqa: E402
from noisy_rnn.components.drift_gate.component import (  # noqa: E402
    BASELINE_SPLIT, SPLITS)
from noisy_rnn.components.sequence_example_gen import \
    SequenceExampleGen  # noqa: E402
from noisy_rnn.pipeline.ops import spans  # noqa: E402
from noisy_rnn.schemas.dataset_spec import load_spec  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _repo_script(name):
    """Imports ``data/<name>.py`` (a repo script, not in the package)."""
    spec = importlib.util.spec_from_file_location(
        name, os.path.join(REPO, "data", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


broken = _repo_script("corruptions")


def statistics_of(spec, csv_path, work):
    """``(statistics uri, schema)`` of ``csv_path`` read with ``spec``
    through SequenceExampleGen and StatisticsGen (SchemaGen infers the
    schema that says which features are numeric)."""
    os.makedirs(work, exist_ok=True)
    example_gen = SequenceExampleGen(dataset=spec,
                                     input_base=os.path.dirname(csv_path),
                                     input_pattern=os.path.basename(csv_path))
    statistics_gen = StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = SchemaGen(statistics=statistics_gen.outputs["statistics"],
                           infer_feature_shape=False)
    LocalDagRunner().run(Pipeline(
        pipeline_name="drift_calibration", pipeline_root=work,
        components=[example_gen, statistics_gen, schema_gen],
        metadata_connection_config=metadata.sqlite_metadata_connection_config(
            os.path.join(work, "metadata.sqlite"))))
    # A fresh pipeline root per call: one artifact folder each.
    stats_uri, = glob.glob(os.path.join(work, "StatisticsGen", "statistics",
                                        "*"))
    schema_uri, = glob.glob(os.path.join(work, "SchemaGen", "schema", "*"))
    schema = io_utils.SchemaReader().read(
        io_utils.get_only_uri_in_dir(schema_uri))
    return stats_uri, schema


def sequence_spans(spec, dest, count):
    """Cumulative spans of a ``sequences`` dataset: span k holds the first
    k/count of the sequences (in file order) of each split value, so every
    span has train and eval sequences. (`spans.split_into_spans` cuts by the
    step column, which orders time only in ``windows`` datasets.)"""
    rows = broken.read_rows(spec.csv)
    header = rows[0]
    sequence = header.index(spec.sequence_id)
    split = header.index(spec.split_column) if spec.split_column else None
    order = {}  # split value -> sequence ids in file order
    for row in rows[1:]:
        ids = order.setdefault(row[split] if split is not None else "", [])
        if row[sequence] not in ids:
            ids.append(row[sequence])
    for number in range(1, count + 1):
        kept = {i for ids in order.values()
                for i in ids[:round(len(ids) * number / count)]}
        broken.write_rows(os.path.join(dest, f"span-{number}",
                            os.path.basename(spec.csv)),
               [header] + [r for r in rows[1:] if r[sequence] in kept])


def corruptions(rows, spec):
    """``{name: rows}``: the four broken versions of a span (those that
    apply: a swap needs two features, a collapse a class label)."""
    first = spec.features[0]
    out = {f"{first} x1000": broken.scaled(rows, first, 1000),
           f"{first} +3 std": broken.shifted(rows, first, 3)}
    if len(spec.features) > 1:
        out[f"{first}, {spec.features[1]} swapped"] = broken.swapped(
            rows, first, spec.features[1])
    if spec.task == "classification":
        out["label collapsed"] = broken.collapsed(rows, spec.label)
    return out


def compare(spec, baseline_uri, current_uri, schema):
    """The gate's comparisons (`DriftGate` compares ``SPLITS``) and, for
    the record, the eval split too: each vs the baseline's train split."""
    baseline = drift.load_statistics(baseline_uri, BASELINE_SPLIT)
    found = []
    for split in ("train", "eval"):
        current = drift.load_statistics(current_uri, split)
        for result in drift.measure_drift(
                current, baseline, schema,
                spec.features + [spec.label_feature], spec.drift_thresholds):
            found.append((split, result))
    return found


def calibrate(name, spec, span_csvs, work, table):
    """Adds ``(dataset, case, split, FeatureDrift)`` rows to ``table``."""
    computed = [statistics_of(spec, path, os.path.join(work, f"span{i}"))
                for i, path in enumerate(span_csvs, start=1)]
    for index in range(1, len(computed)):
        for split, result in compare(spec, computed[index - 1][0],
                                     computed[index][0], computed[0][1]):
            table.append((name, f"span {index + 1} vs {index}", split,
                          result))
    last = span_csvs[-1]
    for case, rows in corruptions(broken.read_rows(last), spec).items():
        path = os.path.join(work, "broken", case.replace(" ", "_"),
                            os.path.basename(last))
        broken.write_rows(path, rows)
        uri, _ = statistics_of(spec, path,
                               os.path.join(work, "run_" + case.replace(
                                   " ", "_")))
        for split, result in compare(spec, computed[-2][0], uri,
                                     computed[0][1]):
            table.append((name, case, split, result))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=4)
    parser.add_argument("--work", default=None)
    args = parser.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="drift_calibration_")
    table = []
    for name in ("co2", "japanese_vowels", "sines"):
        folder = os.path.join(work, name)
        shutil.rmtree(folder, ignore_errors=True)
        if name == "sines":
            synthetic = _repo_script("synthetic")
            spec = load_spec(synthetic.write_dataset(
                os.path.join(folder, "spec"), count=240))
            counts = [round(240 * (k + 1) / args.spans)
                      for k in range(args.spans)]
            synthetic.write_spans(os.path.join(folder, "spans"), counts)
        elif load_spec(name).mode == "sequences":
            spec = load_spec(name)
            sequence_spans(spec, os.path.join(folder, "spans"), args.spans)
        else:
            spec = load_spec(name)
            spans.split_into_spans(spec.csv, spec.step,
                                   os.path.join(folder, "spans"), args.spans)
        span_csvs = [os.path.join(folder, "spans", f"span-{k}",
                                  os.path.basename(spec.csv))
                     for k in range(1, args.spans + 1)]
        calibrate(name, spec, span_csvs, folder, table)
    print(f"{'dataset':16} {'case':24} {'split':5} {'feature':12} "
          f"{'measure':26} {'value':>7} {'thresh':>6}")
    for name, case, split, result in table:
        print(f"{name:16} {case:24} {split:5} {result.feature:12} "
              f"{result.measure:26} {result.value:7.3f} "
              f"{result.threshold:6.2f}{'  OVER' if result.exceeded else ''}")
    print()
    print(f"the gate compares the {', '.join(SPLITS)} split(s); summary of "
          f"those:")
    gated = [row for row in table if row[2] in SPLITS]
    for measure, threshold in drift.DEFAULT_THRESHOLDS.items():
        natural = [r.value for _, case, _, r in gated
                   if case.startswith("span") and r.measure == measure]
        print(f"{measure}: natural spans max {max(natural, default=0):.3f}, "
              f"default threshold {threshold:g}")
    broken = {}
    for name, case, _, result in gated:
        if not case.startswith("span"):
            broken.setdefault((name, case), []).append(result)
    for (name, case), results in broken.items():
        top = max(results, key=lambda r: r.value / r.threshold)
        print(f"{name} {case}: largest {top.feature} {top.measure} "
              f"{top.value:.3f} (threshold {top.threshold:g}): "
              f"{'refused' if top.exceeded else 'PASSES'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
