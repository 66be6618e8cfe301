"""Converts the weekly Mauna Loa CO2 series into the project's long CSV.

One output row per week: ``series, week, date, co2``. ``week`` counts weeks
since the first sample (1958-03-29), so a missing week is a gap in no step
but an empty ``co2`` value; the 59 missing weeks stay empty (never
interpolated here: SequenceExampleGen skips windows that contain one and
reports how many). Values are copied as written.

Usage:
    python data/convert_co2.py --source ../shared/data/co2/co2.csv \
        --output data/co2/co2.csv
"""

import argparse
import csv
import datetime
import pathlib

SERIES = "mauna_loa"


def convert(source, output):
    """Writes ``output`` from the raw ``date,co2`` CSV ``source``; returns
    ``(weeks, missing)``. Raises ValueError naming the line of a row whose
    date is not a whole number of weeks after the first."""
    with open(source, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        if [h.strip() for h in header] != ["date", "co2"]:
            raise ValueError(f"{source}: line 1: expected header date,co2, "
                             f"got {header}")
        rows, first, missing = [], None, 0
        for line_number, (date, co2) in enumerate(reader, start=2):
            day = datetime.datetime.strptime(date, "%Y%m%d").date()
            first = first or day
            days = (day - first).days
            if days % 7:
                raise ValueError(f"{source}: line {line_number}: {date} is "
                                 f"not a whole number of weeks after {first}")
            missing += co2.strip() == ""
            rows.append([SERIES, days // 7, day.isoformat(), co2.strip()])
    pathlib.Path(output).parent.mkdir(parents=True, exist_ok=True)
    with open(output, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["series", "week", "date", "co2"])
        writer.writerows(rows)
    return len(rows), missing


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="../shared/data/co2/co2.csv")
    parser.add_argument("--output", default="data/co2/co2.csv")
    args = parser.parse_args()
    weeks, missing = convert(args.source, args.output)
    print(f"{args.output}: {weeks} weeks, {missing} missing")


if __name__ == "__main__":
    main()
