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
import pathlib

from convert_uea import parse_ts, write_long_csv

NUM_CHANNELS = 12
SPLIT_FILES = (("train", "JapaneseVowels_TRAIN.ts"), ("eval", "JapaneseVowels_TEST.ts"))


def convert(source_dir, output_path):
    """Writes the long CSV; returns the number of sequences per split."""
    series = {split: list(parse_ts(pathlib.Path(source_dir) / file_name,
                                   width=NUM_CHANNELS))
              for split, file_name in SPLIT_FILES}
    counts, _ = write_long_csv(series, output_path, label_column="speaker",
                               id_digits=3)
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="../shared/data/japanese_vowels")
    parser.add_argument("--output", default="data/japanese_vowels.csv")
    args = parser.parse_args()
    print(convert(args.source, args.output))


if __name__ == "__main__":
    main()
