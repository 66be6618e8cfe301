"""Converts a UEA/UCR archive dataset (`<Name>_TRAIN.ts`, `<Name>_TEST.ts`,
or the UCR archive's text form `<Name>_TRAIN.txt`, `<Name>_TEST.txt`) into
the project's long CSV and a dataset spec.

One output row per time step: ``sequence_id, step, c0..c<K-1>, label,
split``; the TRAIN file becomes split ``train``, the TEST file ``eval``.
Values are copied as written (no float reformatting). Univariate and
multivariate, equal or variable length; a missing value (``?`` or ``NaN``)
is refused with the file and line, as the pipeline would refuse it.

Usage:
    python data/convert_uea.py --source DIR_WITH_TS_FILES --name ArrowHead \
        --dest runs/uea/ArrowHead
"""

import argparse
import csv
import os
import pathlib

SPEC = """# {name} from the UEA/UCR archive (converted by data/convert_uea.py)
name: {spec_name}
csv: {csv_name}
mode: sequences
sequence_id: sequence_id
step: step
features: [{features}]
label: label
task: {task}
split: {{column: split}}
"""


def parse_ts(path, width=None):
    """Yields ``(channels, label)`` per series of a `.ts` file: ``channels``
    is a list of equally long lists of value strings. ValueError naming the
    file and line for a missing value, channels of different lengths, or a
    series with another number of channels than ``width`` (default: the
    first series')."""
    in_data = False
    with open(path, encoding="utf-8") as f:
        for line_number, line in enumerate(f, start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if not in_data:
                in_data = line.lower() == "@data"
                continue
            *channels, label = line.split(":")
            channels = [c.split(",") for c in channels]
            width = width or len(channels)
            if len(channels) != width:
                raise ValueError(f"{path}:{line_number}: expected {width} "
                                 f"channels, found {len(channels)}")
            if len({len(c) for c in channels}) != 1:
                raise ValueError(f"{path}:{line_number}: channels differ in "
                                 f"length")
            if any(v.strip() in ("?", "NaN", "nan", "") for c in channels
                   for v in c):
                raise ValueError(f"{path}:{line_number}: missing value")
            yield channels, label.strip()


def parse_ucr_txt(path):
    """Yields ``(channels, label)`` per series of a UCR archive text file
    (one univariate series per line: the label, then the values, separated
    by whitespace or commas), in `parse_ts`'s form. ValueError naming the
    file and line for a missing value or a line without values."""
    with open(path, encoding="utf-8") as f:
        for line_number, line in enumerate(f, start=1):
            fields = line.replace(",", " ").split()
            if not fields:
                continue
            if len(fields) < 2:
                raise ValueError(f"{path}:{line_number}: a label without "
                                 f"values")
            label, values = fields[0], fields[1:]
            if any(v in ("?", "NaN", "nan") for v in values):
                raise ValueError(f"{path}:{line_number}: missing value")
            # Labels written as floats (1.0000000e+00) are class numbers.
            number = float(label)
            yield [values], (str(int(number)) if number.is_integer()
                             else label)


def read_series(source_dir, name, part):
    """The ``(channels, label)`` series of ``source_dir/<name>_<part>``:
    the `.ts` file if there is one, else the UCR text file (`.txt`)."""
    source = pathlib.Path(source_dir)
    ts_path = source / f"{name}_{part}.ts"
    if ts_path.exists():
        return list(parse_ts(ts_path))
    return list(parse_ucr_txt(source / f"{name}_{part}.txt"))


def write_long_csv(series_by_split, output_path, label_column="label",
                   id_digits=4):
    """Writes ``{split: [(channels, label), ...]}`` as a long CSV (series
    ids ``<split>-<index>``, zero-padded to ``id_digits``); returns the
    number of series per split and the number of channels."""
    counts, width = {}, None
    with open(output_path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        for split, series in series_by_split.items():
            for index, (channels, label) in enumerate(series):
                if width is None:
                    width = len(channels)
                    writer.writerow(["sequence_id", "step"] +
                                    [f"c{i}" for i in range(width)] +
                                    [label_column, "split"])
                sequence_id = f"{split}-{index:0{id_digits}d}"
                for step, values in enumerate(zip(*channels)):
                    writer.writerow([sequence_id, step, *values, label,
                                     split])
                counts[split] = index + 1
    return counts, width


def convert(source_dir, name, dest, task="classification"):
    """``dest/<name>.csv`` and ``dest/dataset.yaml`` (``task``:
    classification, or regression for the archive's extrinsic regression
    sets, a number per series) from the archive's files in
    ``source_dir``; returns the spec's path and the counts."""
    os.makedirs(dest, exist_ok=True)
    series = {split: read_series(source_dir, name, part)
              for split, part in (("train", "TRAIN"), ("eval", "TEST"))}
    csv_name = f"{name}.csv"
    counts, width = write_long_csv(series, os.path.join(dest, csv_name))
    spec_path = os.path.join(dest, "dataset.yaml")
    with open(spec_path, "w", encoding="utf-8") as f:
        f.write(SPEC.format(name=name, spec_name=name.lower(), task=task,
                            csv_name=csv_name,
                            features=", ".join(f"c{i}" for i in
                                               range(width))))
    return spec_path, counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True,
                        help="folder with <name>_TRAIN.ts and <name>_TEST.ts "
                        "(or .txt)")
    parser.add_argument("--name", required=True)
    parser.add_argument("--dest", required=True)
    parser.add_argument("--task", default="classification",
                        choices=["classification", "regression"])
    args = parser.parse_args()
    print(convert(args.source, args.name, args.dest, args.task))


if __name__ == "__main__":
    main()
