"""SequenceExampleGen executor: a long CSV -> train/eval tf.Examples, in Beam.

Rows are grouped by ``sequence_id`` and ordered by ``step``; each group becomes
one example (``sequences`` mode) or its sliding windows (``windows`` mode).
Splits come from the split column, or by time: the latest ``eval_fraction``
of each series' windows (windows mode) or of the sequences in file order
(sequences mode). Windows of one series are never split at random, which
would leak the future into training.

With a validation fraction, a ``validation`` split is carved from train for
the Trainer's model selection: by sequence in sequences mode (stratified by
class, chosen by a seeded hash of the id), by time in windows mode (the
latest training windows of each series).
"""

import collections
import csv
import dataclasses
import itertools
import json
import math
import os
import pickle
import random
import zlib

import apache_beam as beam
import tensorflow as tf
from absl import logging
from google.protobuf import json_format, struct_pb2
from tfx.components.example_gen import (base_example_gen_executor,
                                        utils, write_split)
from tfx.components.util import examples_utils
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from noisy_rnn.components.sequence_example_gen import examples as rules
from noisy_rnn.components.sequence_example_gen import tfrecords
from noisy_rnn.schemas import contracts
from noisy_rnn.schemas.dataset_spec import (DatasetSpec, SpecError,
                                            check_csv_header, decode_csv)
from noisy_rnn.schemas.spans import span_numbers, window_spans

REPORT_FILE = "sequence_example_gen_report.json"
# Sequences travel through Beam in this many buckets (by a stable hash of
# their id), one element per bucket and file part, not one per sequence:
# Beam's cost per element bounded this step's speed. All of a sequence's
# rows, from any file, meet in its bucket; the buckets are what a cluster
# spreads. An element is its rows as columns (`rules.Rows`), pickled: Beam's
# own coder would code each of their values apart.
BUCKETS = 64


def spec_from_exec_properties(exec_properties):
    """The DatasetSpec packed into the component's custom_config."""
    return DatasetSpec.from_dict(_custom_config(exec_properties)["dataset"])


def validation_from_exec_properties(exec_properties):
    """``(fraction, seed)`` of the validation slice; fraction 0: none."""
    validation = _custom_config(exec_properties).get("validation") or {}
    return (float(validation.get("fraction", 0.0)),
            int(validation.get("seed", 0)))


def csv_patterns(exec_properties):
    """``(patterns, spans)``: the file patterns to read and the span
    numbers they hold (None without a span window): the driver's pattern
    (its latest span already in it), or, with a span window, one pattern per
    span of the window ending at the driver's span, re-checked here (a span
    missing inside the window is refused, naming it)."""
    input_config = example_gen_pb2.Input()
    proto_utils.json_to_proto(
        exec_properties[standard_component_specs.INPUT_CONFIG_KEY],
        input_config)
    base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
    window = _custom_config(exec_properties).get("spans_window")
    if not window:
        return [os.path.join(base, input_config.splits[0].pattern)], None
    latest = int(exec_properties[contracts.SPAN])
    try:
        spans, _ = window_spans(base, int(window["size"]), latest)
    except ValueError as error:
        raise rules.DataError(str(error)) from None
    digits = span_numbers(base)  # as the folders spell them: span-07
    return [os.path.join(base, window["pattern"].replace("{SPAN}",
                                                         digits[n]))
            for n in spans], spans


def _custom_config(exec_properties):
    custom_config = example_gen_pb2.CustomConfig()
    proto_utils.json_to_proto(
        exec_properties[standard_component_specs.CUSTOM_CONFIG_KEY],
        custom_config)
    struct = struct_pb2.Struct()
    custom_config.custom_config.Unpack(struct)
    return json_format.MessageToDict(struct)


def _write_json(values, path):
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(values, f, indent=1, sort_keys=True)


def _read_chunks(csv_path, spec, with_keys=False):
    """``(bucket, pickled rules.Rows)`` per bucket of each part of one CSV
    file's sequences (any filesystem TensorFlow reads, e.g.
    gs://), after checking its header has the spec's columns: every file of
    a pattern or span is checked, not only the spec's CSV. The file is read
    in parts of `rules.PART_BYTES` (`_file_parts`), so memory is bounded by
    a part, whatever the file's size; a plain part is parsed by Arrow, any
    other by the Python rules, which name what is wrong
    (`rules.read_parts`). ``with_keys``: also each part's
    `rules.sequence_keys`, pickled, on the ``keys`` output."""
    with _open_binary(csv_path) as f:
        parts = _file_parts(csv_path, f)
        first = next(parts, rules.Part.of(1, b""))
        raw = first.raw
        lines = decode_csv(csv_path, raw[:raw.find(b"\n") + 1] or raw,
                           rules.DataError)
        header = next(csv.reader(lines[:1]), None)
        if not header:
            raise rules.DataError(f"{csv_path}: line 1: empty CSV (no "
                                  f"header row)")
        header = [column.strip() for column in header]
        try:
            check_csv_header(dataclasses.replace(spec, csv=csv_path),
                             header=header)
        except SpecError as error:
            raise rules.DataError(str(error)) from None
        for rows in rules.read_parts(
                csv_path, itertools.chain([first], parts), spec, header,
                lambda part: decode_csv(csv_path, part.raw, rules.DataError,
                                        part.first_line)):
            if with_keys:
                yield beam.pvalue.TaggedOutput("keys", pickle.dumps(
                    rules.sequence_keys(rows), pickle.HIGHEST_PROTOCOL))
            for bucket, bucket_rows in rules.bucket_rows(rows, bucket_of):
                yield bucket, pickle.dumps(bucket_rows,
                                           pickle.HIGHEST_PROTOCOL)


def _open_binary(path):
    """``path`` opened for binary reads: a local file by Python (three
    times TensorFlow's rate here), any other (gs://, hdfs://, ...) by
    `tf.io.gfile`."""
    if "://" in path:
        return tf.io.gfile.GFile(path, "rb")
    return open(path, "rb")  # pylint: disable=consider-using-with


def _file_parts(csv_path, f):
    """Consecutive `rules.Part` of the open file ``f``, of about
    `rules.PART_BYTES`, each ending at a line end (or the file's end),
    each checked to be UTF-8 without NUL (else `decode_csv` names the
    line and byte)."""
    line, newlines, carry = 1, 0, b""
    while True:
        data = f.read(rules.PART_BYTES)
        if data:
            data = carry + data
            cut = data.rfind(b"\n") + 1
            if not cut:  # no line feed yet (or lone CRs only): read on
                carry = data
                continue
            raw, carry = data[:cut], data[cut:]
        else:
            raw, carry = carry, b""
            if not raw:
                return
        if not _valid_text(raw):
            decode_csv(csv_path, raw, rules.DataError, newlines + 1)
        part = rules.Part.of(line, raw)
        yield part
        line += part.newlines + part.lone_returns
        newlines += part.newlines


def _valid_text(raw):
    """Whether ``raw`` is UTF-8 without a NUL byte (else `decode_csv`
    names the bad byte)."""
    if b"\0" in raw:
        return False
    if raw.isascii():  # no decoded copy of the whole file
        return True
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def bucket_of(sequence_id):
    """The bucket of a sequence id, the same in every process."""
    return zlib.crc32(sequence_id.encode()) % BUCKETS


def _merged_keys(pickled_keys):
    """The parts' `rules.sequence_keys` merged: each sequence's least first
    line, with the label and split of the row on that line."""
    merged = {}
    for keys in map(pickle.loads, pickled_keys):
        for sequence_id, key in keys.items():
            found = merged.get(sequence_id)
            if found is None or key[0] < found[0]:
                merged[sequence_id] = key
    return merged


def _bucket_examples(keyed_pieces, spec, validation_fraction=0.0, seed=0,
                     rule=None):
    """A bucket's examples as one list of ``(first line, split,
    serialized example, (sequence_id, group))`` (windows mode: ``(0, split,
    example, None)``), and its counts on the ``counts`` output. Sequences
    mode: ``rule`` (`split_rule`), if given, sets each example's split."""
    bucket, pieces = keyed_pieces
    parts = [pickle.loads(piece) for piece in pieces]
    examples, counts = [], collections.Counter()
    if spec.mode == "windows":
        for sequence_id, chunk in rules.merged_chunks(parts):
            counts["series"] += 1
            counts[contracts.SKIPPED_WINDOWS] += _window_examples(
                sequence_id, chunk, spec, validation_fraction, examples)
    else:
        for sequence_id, (split, first_line, label, example) in \
                rules.sequence_examples(spec, parts):
            counts["sequences"] += 1
            # The group the validation slice is stratified by: the class.
            group = label if spec.task == "classification" else None
            if rule is not None:
                split = final_split(spec, rule, seed, first_line, split,
                                    (sequence_id, group))
            examples.append((first_line, split, example,
                             (sequence_id, group)))
    for key, count in counts.items():
        yield beam.pvalue.TaggedOutput("counts", (key, count))
    # Written in this order (see `Executor.Do`): shuffled, so that a
    # series' windows do not follow one another in the files.
    random.Random(bucket).shuffle(examples)
    yield examples


def _window_examples(sequence_id, chunk, spec, validation_fraction, out):
    """Appends a series' windows to ``out``; returns how many it skipped."""
    cutoff = None
    if spec.eval_fraction is not None:  # latest fraction of this series
        cutoff = math.ceil(len(chunk.steps) * (1 - spec.eval_fraction))
    windows, skipped = [], 0
    for split, position, example in rules.windows_from_chunk(
            spec, sequence_id, chunk):
        if split == "skipped":
            skipped += position
            continue
        if cutoff is not None:
            split = "eval" if position >= cutoff else "train"
        windows.append((split, position, example))
    validation = rules.latest_validation_positions(
        [position for split, position, _ in windows if split == "train"],
        validation_fraction)
    for split, position, example in windows:
        if position in validation:
            split = rules.VALIDATION
        out.append((0, split, example.SerializeToString(), None))
    return skipped


def _framed_split(batch, split):
    """A bucket's examples of ``split`` framed as one element (none if it
    has none): the sink writes them with one compressor call."""
    records = tfrecords.framed(t[2] for t in batch if t[1] == split)
    return [records] if records else []


def output_splits(validation_fraction):
    """The splits written: train, validation (if a fraction is given),
    eval."""
    return (("train", rules.VALIDATION, "eval") if validation_fraction
            else rules.SPLITS)


def split_rule(pickled_keys, spec, fraction, seed):
    """Sequences mode: ``(cut, cutoffs)``, what sets each sequence's split
    (`final_split`), from every part's `rules.sequence_keys`. ``cut``:
    with an ``eval_fraction``, the first line of the earliest sequence in
    the eval part (`_eval_cutoff_line`). ``cutoffs``: with a validation
    ``fraction``, the `rules.validation_cutoffs` of the training
    sequences, stratified by class in classification. Chosen before the
    examples are built, so a bucket's examples are written as they are
    built (no second pass)."""
    keys = _merged_keys(pickled_keys)
    cut = None
    if spec.eval_fraction is not None:
        cut = _eval_cutoff_line([line for line, _, _ in keys.values()],
                                spec.eval_fraction)
    cutoffs = {}
    if fraction:
        classes = spec.task == "classification"
        cutoffs = rules.validation_cutoffs(
            ((sequence_id, label if classes else None)
             for sequence_id, (line, label, split) in keys.items()
             if final_split(spec, (cut, {}), seed, line, split,
                            None) == "train"),
            fraction, seed)
    return cut, cutoffs


def final_split(spec, rule, seed, first_line, split, key):
    """A sequence's split under ``rule`` (`split_rule`): by time when the
    spec has an ``eval_fraction`` (else ``split``, its split column's),
    then, if training and chosen by the cutoffs, validation. ``key``:
    ``(sequence_id, group)``."""
    cut, cutoffs = rule
    if spec.eval_fraction is not None:
        split = "eval" if cut is not None and first_line >= cut else "train"
    if cutoffs and split == "train" and rules.in_validation(cutoffs, seed,
                                                            *key):
        split = rules.VALIDATION
    return split


def _eval_cutoff_line(first_lines, eval_fraction):
    """Sequences mode, time split: the first line of the earliest sequence
    in the eval part (the last ``eval_fraction`` of sequences in file order);
    None if that part is empty."""
    ordered = sorted(first_lines)
    cutoff_index = math.ceil(len(ordered) * (1 - eval_fraction))
    return ordered[cutoff_index] if cutoff_index < len(ordered) else None


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
    """Reads the spec's CSV once and emits the train, eval and (with a
    validation fraction) validation splits."""

    def GetInputSourceToExamplePTransform(self):
        raise NotImplementedError("SequenceExampleGen splits in "
                                  "GenerateExamplesByBeam")

    def GenerateExamplesByBeam(self, pipeline, exec_properties):
        """``{split: PCollection}``; unlike TFX's, an element is a bucket's
        examples of that split as framed TFRecord bytes
        (`tfrecords.framed`), which `_write_splits` writes as they are."""
        spec = spec_from_exec_properties(exec_properties)
        patterns = self._patterns
        csv_paths = sorted(path for pattern in patterns
                           for path in tf.io.gfile.glob(pattern))
        pattern = patterns[0] if len(patterns) == 1 else \
            " + ".join(patterns)
        if not csv_paths:
            raise rules.DataError(f"{spec.path}: no CSV matches {pattern}")
        spec = dataclasses.replace(
            spec, csv=csv_paths[0] if len(csv_paths) == 1 else pattern)

        fraction, seed = validation_from_exec_properties(exec_properties)
        splits = output_splits(fraction)
        # Sequences mode, split by time or carving a validation slice:
        # each sequence's split is chosen from keys read with the rows.
        keyed = spec.mode == "sequences" and (
            spec.eval_fraction is not None or bool(fraction))
        read = (pipeline
                | "CsvPaths" >> beam.Create(csv_paths)
                | "ReadChunks" >> beam.FlatMap(
                    _read_chunks, spec, with_keys=keyed)
                .with_outputs("keys", main="rows"))
        rule = None
        if keyed:
            rule = beam.pvalue.AsSingleton(
                read.keys
                | "AllKeys" >> beam.combiners.ToList()
                | "SplitRule" >> beam.Map(split_rule, spec, fraction, seed))
        # Elements from here on are a bucket's list of examples.
        results = (
            read.rows
            | "GroupSequences" >> beam.GroupByKey()
            | "ToExamples" >> beam.FlatMap(
                _bucket_examples, spec, validation_fraction=fraction,
                seed=seed, rule=rule)
            .with_outputs("counts", main="examples"))
        examples = results.examples

        split_examples, counts = {}, [results.counts]
        for split in splits:
            split_examples[split] = examples | f"Example[{split}]" >> \
                beam.FlatMap(_framed_split, split)
            counts.append(
                examples
                | f"Count[{split}]" >> beam.Map(
                    lambda batch, split=split: sum(
                        t[1] == split for t in batch))
                | f"Sum[{split}]" >> beam.CombineGlobally(sum)
                | f"Key[{split}]" >> beam.Map(
                    lambda n, split=split: (f"examples_{split}", n)))
        report_path = self._report_path
        (counts
         | "AllCounts" >> beam.Flatten()
         | "SumCounts" >> beam.CombinePerKey(sum)
         | "CountsDict" >> beam.combiners.ToDict()
         | "WriteReport" >> beam.Map(_write_json, report_path))
        return split_examples

    def _write_splits(self, output_dict, exec_properties):
        """What `BaseExampleGenExecutor.Do` does (the splits written as
        gzipped TFRecords, the artifact's split names and formats), without
        its `Reshuffle` of every record before writing: the buckets come
        out of a shuffle already, their examples in a shuffled order, and
        a per-record shuffle was a fifth of this step's time."""
        input_config, output_config = example_gen_pb2.Input(), \
            example_gen_pb2.Output()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.INPUT_CONFIG_KEY],
            input_config)
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY],
            output_config)
        artifacts = output_dict[standard_component_specs.EXAMPLES_KEY]
        examples = artifact_utils.get_single_instance(artifacts)
        examples.split_names = artifact_utils.encode_split_names(
            utils.generate_output_split_names(input_config, output_config))
        with self._make_beam_pipeline() as pipeline:
            for split, records in self.GenerateExamplesByBeam(
                    pipeline, exec_properties).items():
                _ = records | f"WriteSplit[{split}]" >> \
                    tfrecords.write_framed(
                        os.path.join(
                            artifact_utils.get_split_uri(artifacts, split),
                            write_split.DEFAULT_TF_RECORD_FILE_NAME),
                        file_name_suffix=".gz")
        payload_format = exec_properties.get(
            standard_component_specs.OUTPUT_DATA_FORMAT_KEY)
        if payload_format:
            examples_utils.set_payload_format(examples, payload_format)
        file_format = exec_properties.get(
            standard_component_specs.OUTPUT_FILE_FORMAT_KEY)
        if file_format:
            examples_utils.set_file_format(
                examples, write_split.to_file_format_str(file_format))

    def Do(self, input_dict, output_dict, exec_properties):
        examples = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EXAMPLES_KEY])
        self._report_path = os.path.join(examples.uri, REPORT_FILE)
        # Listed once: the Beam pipeline reads them, the artifact names them.
        self._patterns, spans = csv_patterns(exec_properties)
        self._write_splits(output_dict, exec_properties)
        with tf.io.gfile.GFile(self._report_path) as f:
            report = json.load(f)
        for key, value in sorted(report.items()):
            examples.set_int_custom_property(key, value)
        if spans:  # a window: which spans the examples come from
            examples.set_string_custom_property(
                contracts.SPANS, ",".join(map(str, spans)))
        logging.info("SequenceExampleGen: %s", report)
        spec = spec_from_exec_properties(exec_properties)
        fraction, _ = validation_from_exec_properties(exec_properties)
        for split in output_splits(fraction):
            if report.get(f"examples_{split}"):
                continue
            if split == rules.VALIDATION:
                # Too few training sequences to spare one (e.g. one per
                # class): the Trainer then scores rounds on the training
                # data and says so (run_fn.load_data).
                logging.warning(
                    "SequenceExampleGen: %s: the validation slice is empty "
                    "(%s); the Trainer trains without one", spec.path, report)
                continue
            raise rules.DataError(
                f"{spec.path}: the split produced no {split} examples "
                f"from {spec.csv} (counts: {report})")
