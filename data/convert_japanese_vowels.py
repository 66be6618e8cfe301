"""Converts the UEA JapaneseVowels `.ts` files into the project's long CSV.

One output row per time step: ``sequence_id, step, c0..c11, speaker, split``.
The archive's TRAIN file becomes split ``train`` and its TEST file split
``eval``; values are copied as written (no float reformatting), so the CSV
holds exactly the archive's numbers.

Usage:
    python data/convert_japanese_vowels.py \
        --source ../shared/data/japanese_vowels --output data/japanese_vowels.csv
"""

import argparse
import csv
import pathlib

NUM_CHANNELS = 12
SPLIT_FILES = (("train", "JapaneseVowels_TRAIN.ts"), ("eval", "JapaneseVowels_TEST.ts"))


def parse_ts_sequences(path):
    """Yields ``(channels, label)`` per sequence of a `.ts` file.

    ``channels`` is a list of NUM_CHANNELS lists of value strings, all of the
    same length. Raises ValueError naming the file and line on malformed input.
    """
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
            if len(channels) != NUM_CHANNELS:
                raise ValueError(f"{path}:{line_number}: expected {NUM_CHANNELS} "
                                 f"channels, found {len(channels)}")
            if len({len(c) for c in channels}) != 1:
                raise ValueError(f"{path}:{line_number}: channels differ in length")
            yield channels, label


def convert(source_dir, output_path):
    """Writes the long CSV; returns the number of sequences per split."""
    counts = {}
    header = (["sequence_id", "step"] +
              [f"c{i}" for i in range(NUM_CHANNELS)] + ["speaker", "split"])
    with open(output_path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        for split, file_name in SPLIT_FILES:
            sequences = parse_ts_sequences(pathlib.Path(source_dir) / file_name)
            for index, (channels, label) in enumerate(sequences):
                sequence_id = f"{split}-{index:03d}"
                for step, values in enumerate(zip(*channels)):
                    writer.writerow([sequence_id, step, *values, label, split])
                counts[split] = index + 1
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="../shared/data/japanese_vowels")
    parser.add_argument("--output", default="data/japanese_vowels.csv")
    args = parser.parse_args()
    print(convert(args.source, args.output))


if __name__ == "__main__":
    main()
