"""SequenceExampleGen's file-chunked reader writes the same examples as the
row-per-element reader it replaced: byte for byte, split by split.

Each case runs the real executor (Beam, DirectRunner) and compares, per
split, the SHA-256 of its sorted examples and the report counts to digests
recorded from the row-per-element implementation (commit 4f846b1,
unchanged up to b9b5449) before the rewrite. Each example is parsed and
serialized again with ``deterministic=True`` (map keys sorted): protobuf's
default serialization orders a map's entries differently from one process
to the next, so raw records differ between two runs of the same code.
Re-record with ``RECORD=1`` (prints the table) only for an intended change
of the output.
"""

import csv
import glob
import hashlib
import json
import os
import random

import pytest
import tensorflow as tf
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from noisy_rnn.components.sequence_example_gen import (SequenceExampleGen,
                                                       executor)
from noisy_rnn.schemas.dataset_spec import load_spec

SPLITS = ("train", "validation", "eval")


def split_digests(spec, output, **component_args):
    """Runs the executor; returns ``{split: [count, sha256 of its sorted
    serialized examples]}`` and the report."""
    component = SequenceExampleGen(dataset=spec, **component_args)
    properties = {key: proto_utils.proto_to_json(value)
                  if hasattr(value, "DESCRIPTOR") else value
                  for key, value in component.exec_properties.items()}
    examples = standard_artifacts.Examples()
    examples.uri = str(output)
    os.makedirs(examples.uri)
    executor.Executor().Do({}, {"examples": [examples]}, properties)
    digests = {}
    for split in SPLITS:
        files = glob.glob(os.path.join(examples.uri, f"Split-{split}", "*"))
        records = sorted(
            tf.train.Example.FromString(r.numpy()).SerializeToString(
                deterministic=True)
            for r in tf.data.TFRecordDataset(files, compression_type="GZIP"))
        digest = hashlib.sha256()
        for record in records:
            digest.update(len(record).to_bytes(8, "little") + record)
        digests[split] = [len(records), digest.hexdigest()]
    with open(os.path.join(examples.uri, executor.REPORT_FILE)) as f:
        return digests, json.load(f)


def write_spec(folder, text, parts):
    """A spec (``text``, no csv key) over ``parts``: ``{file name: rows}``
    with the header first, read through the ``part-*.csv`` pattern."""
    for name, rows in parts.items():
        with open(folder / name, "w", newline="") as f:
            csv.writer(f).writerows(rows)
    (folder / "dataset.yaml").write_text(
        f"name: toy\ncsv: {sorted(parts)[0]}\n{text}")
    return load_spec(folder / "dataset.yaml")


def messy_windows(folder):
    """Windows mode over two files: three series, one continued in the
    second file, with step gaps, missing features, missing targets, rows out
    of order, padded and exponent-written numbers, a stride of 2."""
    rng = random.Random(7)
    header = ["series", "t", "a", "b", "y", "split"]
    rows = []
    for series in ("p", "q", "r"):
        for t in range(60):
            if rng.random() < 0.05:
                continue  # a gap
            a = "" if rng.random() < 0.04 else f"{rng.uniform(-5, 5):.4f}"
            b = f" {rng.randint(-300, 300)}e-2 "
            y = "" if rng.random() < 0.04 else f"{rng.gauss(0, 1):.5g}"
            rows.append([series, t, a, b, y,
                         "eval" if t >= 45 else "train"])
    rng.shuffle(rows)
    first = [r for r in rows if r[0] != "q" or r[1] < 30]
    second = [r for r in rows if r[0] == "q" and r[1] >= 30]
    return write_spec(folder, (
        "mode: windows\nsequence_id: series\nstep: t\nfeatures: [a, b]\n"
        "label: y\ntask: regression\nsplit: {column: split}\nwindow: 5\n"
        "horizon: 2\nstride: 2\n"),
        {"part-1.csv": [header, *first], "part-2.csv": [header, *second]})


def messy_sequences(folder):
    """Sequences mode split by time over two files: sequences of 2-9 steps
    in shuffled row order, one of them continued in the second file, quoted
    ids with commas."""
    rng = random.Random(11)
    header = ["id", "step", "x", "z", "kind"]
    first, second = [], []
    for i in range(40):
        kind = rng.choice("uvw")
        for step in range(rng.randint(2, 9)):
            row = [f"s,{i}", step, f"{rng.gauss(0, 3):.6f}",
                   f"{rng.randint(0, 9)}", kind]
            (second if i == 5 and step >= 1 else first).append(row)
    rng.shuffle(first)
    return write_spec(folder, (
        "mode: sequences\nsequence_id: id\nstep: step\nfeatures: [x, z]\n"
        "label: kind\ntask: classification\nsplit: {eval_fraction: 0.3}\n"),
        {"part-1.csv": [header, *first], "part-2.csv": [header, *second]})


def pattern_args(spec):
    return {"input_base": os.path.dirname(spec.csv),
            "input_pattern": "part-*.csv"}


# Recorded from the row-per-element implementation (commit 4f846b1+).
GOLDEN = {
    'co2': [{
        'train': [1109, '10ae82e51371c4a6ef729d64ecc8ef4e'
                     'e73a0ba6a315ec30fb89d5ea0fd95c08'],
        'validation': [196, '75f0b6ab854e8653715de07bfb9a24a9'
                         'bf945832c224f4507fe7bbf9d3d6b58d'],
        'eval': [456, '1dd6bec89c3aa414a5e34535550dac98'
                   '508a2f2efa4566eb452a2dcf6ca4a617'],
    }, {
        'examples_eval': 456, 'examples_train': 1109,
        'examples_validation': 196, 'series': 1, 'skipped_windows': 471}],
    'japanese_vowels': [{
        'train': [225, '23a6d58616d2e9846c8e28f9edac4b67'
                    'cdd57630bc66f44eaefa97015b7def1d'],
        'validation': [45, '59078e5009a4df2f396a78c6c2ed1923'
                        '0ca2f1b8a881efc6494b1ae28092b8c8'],
        'eval': [370, 'd1b65cd659a06d087b8791ec2f13f90a'
                   'd7fc8fd7bb5269c163d296d5391bd21c'],
    }, {
        'examples_eval': 370, 'examples_train': 225,
        'examples_validation': 45, 'sequences': 640}],
    'messy_sequences': [{
        'train': [23, '8fba6088e03efcbdc9cba53c10b7656a'
                   '480290f4461bf71ee2d2a73b5c5da249'],
        'validation': [5, '0b1d63b914c967043915337ddfc44842'
                       'fa182ed084294bd7407ca587d04c3778'],
        'eval': [12, '7dedf31334c462d9c515163e114b864a'
                  '69658f6dd33eebad8bdcd21632736c5f'],
    }, {
        'examples_eval': 12, 'examples_train': 23, 'examples_validation': 5,
        'sequences': 40}],
    'messy_windows': [{
        'train': [29, '8b06ab6ced0a3dcbfaf663bb5db28246'
                   'c98a1a3ecda8969422106d2bb043c7c7'],
        'validation': [5, 'feab2bb7755b62f930e404cbd8862a42'
                       '6c69d790479c66254590315ad4575730'],
        'eval': [18, 'cb5a3d281afffe6c8d92e027f74d017f'
                  '0c489a355de2794c94c4dd91645b2a5d'],
    }, {
        'examples_eval': 18, 'examples_train': 29, 'examples_validation': 5,
        'series': 3, 'skipped_windows': 24}],
}


@pytest.mark.parametrize("case", sorted(GOLDEN))
def test_examples_match_the_row_per_element_reader(case, tmp_path):
    if case in ("japanese_vowels", "co2"):
        spec, args = load_spec(case), {}
    else:
        spec = {"messy_windows": messy_windows,
                "messy_sequences": messy_sequences}[case](tmp_path)
        args = pattern_args(spec)
    digests, report = split_digests(spec, tmp_path / "examples",
                                    validation_fraction=0.15, seed=3, **args)
    if os.environ.get("RECORD"):
        print(f"\n    {case!r}: {[digests, report]!r},")
        return
    assert [digests, report] == GOLDEN[case]
