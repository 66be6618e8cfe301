"""The run report: ``<output>/report/index.html`` (the latest run) and
``<output>/report/history.html`` (every run in the output folder).

Written at the end of every ``noisy-rnn run`` and ``retrain``, and by
``noisy-rnn report --output DIR``. Self-contained pages (figures embedded
as PNG data URIs, inline CSS, no script, no network), so they open from
disk and can be mailed. A run that failed, or an output folder with no
run, still gets a page: what exists, and each missing part named.
"""

import os
import threading
import time

from absl import logging

from noisy_rnn.pipeline.ops.report import collect
from noisy_rnn.pipeline.ops.report.render import (render_history,
                                                  render_run)

REPORT_DIR = "report"
INDEX_FILE = "index.html"
HISTORY_FILE = "history.html"

__all__ = ["write_report", "PredictionPrefetch", "REPORT_DIR", "INDEX_FILE",
           "HISTORY_FILE"]


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


class PredictionPrefetch:
    """Computes the report's eval predictions as soon as the Trainer is
    done (while the Evaluator and the ServingValidator run), so the report
    at the end of the run finds them cached. Pass `node_completed` as the
    progress monitor's ``on_complete``; `join` before rendering. A failure
    is logged: the report then computes them itself (and names a failure).
    """

    def __init__(self, output):
        self.output, self.thread = output, None

    def node_completed(self, node):
        if node == "Trainer" and self.thread is None:
            self.thread = threading.Thread(target=self._fetch, daemon=True)
            self.thread.start()

    def _fetch(self):
        try:
            run = collect.list_runs(self.output)[-1]
            by_node = collect.executions(self.output, run.id)
            spec, _ = collect.trainer_settings(by_node)
            model = collect.output_artifact(self.output, by_node["Trainer"],
                                            "model")
            examples = collect.output_artifact(
                self.output, by_node["SequenceExampleGen"], "examples")
            collect.predictions(self.output, model.uri, model.id,
                                examples.uri, spec)
        except Exception as error:  # pylint: disable=broad-except
            logging.warning("report: eval predictions not prefetched: %s",
                            error)

    def join(self):
        if self.thread is not None:
            self.thread.join()
