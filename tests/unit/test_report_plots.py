"""The report's regression plots from predictions (`collect.predictions`'
form), drawn with matplotlib: one plot for a target per sequence, at most
`MAX_FORECAST_PLOTS` forecast plots however many series."""

import re

import numpy as np

from noisy_rnn.pipeline.ops.report import render
from noisy_rnn.schemas.dataset_spec import load_spec


def spec_of(tmp_path, mode):
    extra = "window: 4\nhorizon: 1\n" if mode == "windows" else ""
    split = "{eval_fraction: 0.2}" if mode == "windows" else \
        "{column: split}"
    features = "[y]" if mode == "windows" else "[x]"
    (tmp_path / "dataset.yaml").write_text(
        f"name: r\ncsv: r.csv\nmode: {mode}\nsequence_id: id\nstep: t\n"
        f"features: {features}\nlabel: y\ntask: regression\n"
        f"split: {split}\n{extra}")
    return load_spec(tmp_path / "dataset.yaml", check_csv=False)


def predictions(series, windows, rng):
    actual = rng.normal(size=series * windows)
    return {"series": [f"s{i:02d}" for i in range(series)
                       for _ in range(windows)],
            "step": [t for _ in range(series) for t in range(windows)],
            "actual": actual.tolist(),
            "predicted": (actual + 0.1 * rng.normal(size=actual.size))
            .tolist(),
            "persistence": (actual + 1.0).tolist()}


def images(html):
    return re.findall(r'<img [^>]*alt="([^"]+)"', html)


def test_many_series_draw_at_most_the_cap_and_say_so(tmp_path):
    found = predictions(11, 6, np.random.default_rng(0))
    html = render.regression_plots(found, spec_of(tmp_path, "windows"))
    assert images(html) == [f"forecast s{i:02d}"
                            for i in range(render.MAX_FORECAST_PLOTS)]
    assert "11 series: the first 8 by name are drawn" in html
    assert re.search(r"series s00: model MAE [\d.]+, persistence MAE 1 "
                     r"over 6 windows", html)


def test_a_target_per_sequence_draws_one_plot(tmp_path):
    found = predictions(40, 1, np.random.default_rng(1))
    html = render.regression_plots(found, spec_of(tmp_path, "sequences"))
    assert images(html) == ["predicted vs actual"]
    assert re.search(r"model MAE [\d.]+ over 40 sequences", html)
