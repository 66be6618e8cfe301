"""The run report: ``<output>/report/index.html`` (the latest run) and
``<output>/report/history.html`` (every run in the output folder).

Written at the end of every ``noisy-rnn run`` and ``retrain``, and by
``noisy-rnn report --output DIR``. Self-contained pages (figures embedded
as PNG data URIs, inline CSS, no script, no network), so they open from
disk and can be mailed. A run that failed, or an output folder with no
run, still gets a page: what exists, and each missing part named.
"""

import os
import time

from noisy_rnn.pipeline.ops.report.render import (render_history,
                                                  render_run)

REPORT_DIR = "report"
INDEX_FILE = "index.html"
HISTORY_FILE = "history.html"

__all__ = ["write_report", "REPORT_DIR", "INDEX_FILE", "HISTORY_FILE"]


def write_report(output, error=None, log_path=None):
    """Renders both pages for ``output``; returns ``(index path, seconds
    taken)``. ``error``: why the latest run failed, shown on the page;
    ``log_path``: the run's log, linked from it."""
    start = time.perf_counter()
    output = os.path.abspath(output)
    folder = os.path.join(output, REPORT_DIR)
    os.makedirs(folder, exist_ok=True)
    pages = {INDEX_FILE: render_run(output, error=error, log_path=log_path),
             HISTORY_FILE: render_history(output)}
    for name, html in pages.items():
        path = os.path.join(folder, name)
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            f.write(html)
        os.replace(path + ".tmp", path)
    return os.path.join(folder, INDEX_FILE), time.perf_counter() - start
