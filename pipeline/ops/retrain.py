"""``noisy-rnn retrain``: one scheduled retraining step, safe under cron.

1. Takes ``<output>/retrain.lock`` (``flock``, non-blocking): a second
   concurrent call fails at once with `RetrainBusy`.
2. Compares the latest span under ``spans_dir`` with the span the last
   retrain attempted (``<output>/retrain_state.json``): no new span, nothing
   to do.
3. Otherwise runs the pipeline on the latest span with warm start, and
   reports whether a model was pushed and why (or why not). The gate is the
   pipeline's: the Evaluator (thresholds, and no worse than the latest pushed
   model on the newest eval data) and the ServingValidator. A failed run
   (e.g. a corrupted span stopped by ExampleValidator or the DriftGate)
   pushes nothing: the
   served version stays. A span stopped by its data (anomalies, CSV errors)
   or by the gate counts as attempted and is not retried until a newer span
   arrives (or ``force``); any other failure raises `RetrainFailed` and
   leaves the state alone, so the next call retries. The span recorded is the
   one the pipeline actually read (the Examples artifact's ``span``).
"""

import dataclasses
import json
import os
import time
from typing import Optional

from noisy_rnn.components.anomalies_gate import AnomaliesFound
from noisy_rnn.components.drift_gate import DriftFound
from noisy_rnn.components.sequence_example_gen.examples import DataError
from noisy_rnn.pipeline.config import PipelineConfig
from noisy_rnn.pipeline.ops import runner, spans
from noisy_rnn.pipeline.ops.retrain_state import (  # noqa: F401 (re-exported)
    LOCK_FILE, STATE_FILE, RetrainBusy, nothing_new, read_state,
    retrain_lock, served_version)


class RetrainFailed(RuntimeError):
    """The run failed for a reason other than the data: retry later."""


@dataclasses.dataclass
class RetrainResult:
    """What one retrain call did."""

    span: Optional[int]
    ran: bool
    pushed_path: Optional[str]
    served_version: Optional[str]   # newest version in the serving dir
    reason: str
    summary: Optional[runner.RunSummary] = None

    @property
    def pushed(self):
        return self.pushed_path is not None


def _write_state(output, state):
    path = os.path.join(output, STATE_FILE)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(state, f, indent=1)
    os.replace(path + ".tmp", path)


def explain(summary):
    """Why a finished run pushed or did not push, in one line."""
    if summary.pushed_path:
        return f"pushed {summary.pushed_path}"
    if summary.blessed is False:
        metrics = ", ".join(f"{k} {v:.4f}" for k, v in
                            sorted(summary.metrics.items()))
        return (f"not pushed: the Evaluator did not bless the candidate "
                f"({metrics}): below the threshold or worse than the "
                f"latest pushed model")
    if summary.serving_blessed is False:
        failed = [line.strip() for line in summary.serving_report.splitlines()
                  if "[FAIL]" in line or "error:" in line]
        return "not pushed: the ServingValidator refused it: " + "; ".join(
            failed)
    return "not pushed"


def retrain(config: PipelineConfig, force=False, echo=print,
            **run_options) -> RetrainResult:
    """One retraining step for ``config`` (which needs ``spans_dir``);
    ``run_options`` go to `runner.run` (``status``, ``log_path``)."""
    if not config.spans_dir:
        raise ValueError("retrain needs spans_dir (a folder of span-<N>/)")
    runner.check_local(config)
    config = dataclasses.replace(config, warm_start=True)
    with retrain_lock(config.output):
        available = spans.list_spans(config.spans_dir)
        if not available:
            raise FileNotFoundError(f"no span-<N>/ folder with a CSV under "
                                    f"{config.spans_dir}")
        latest = available[-1]
        quiet = None if force else nothing_new(config)
        if quiet:
            return RetrainResult(latest, False, None, served_version(config),
                                 quiet[1])
        if config.spans_window > 1:  # a gap in the window: refused here
            spans.window_spans(config.spans_dir, config.spans_window)
        echo(f"retraining on span {latest} of {config.spans_dir}")
        try:
            summary = runner.run(config, echo=echo, **run_options)
        except (AnomaliesFound, DriftFound, DataError) as error:
            # The data is at fault: recorded, not retried until a new span.
            summary = runner.summarize_latest_run(config)
            reason = "not pushed: the pipeline stopped: " + _one_line(error)
        except Exception as error:
            # Anything else (disk, memory, a locked store) may pass: the
            # state is left alone, so the next call retries this span.
            raise RetrainFailed(
                f"span {latest}: the pipeline failed ({_one_line(error)}); "
                f"nothing pushed, the span will be retried") from error
        else:
            reason = explain(summary)
        span = summary.span if summary.span is not None else latest
        _write_state(config.output, {
            "last_span": span, "time": time.strftime("%F %T"),
            "outcome": reason, "pushed": summary.pushed_path})
        return RetrainResult(span, True, summary.pushed_path,
                             served_version(config), reason, summary)


def _one_line(error):
    lines = [line.strip() for line in str(error).strip().splitlines()]
    return f"{type(error).__name__}: " + " ".join(lines[:6])


def parse_every(text):
    """``30m`` / ``6h`` / ``1d`` / ``90s`` -> seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        value, unit = float(text[:-1]), units[text[-1]]
    except (KeyError, ValueError, IndexError):
        raise ValueError(f"--every: expected a number and one of s, m, h, d "
                         f"(e.g. 1d, 6h), got {text!r}") from None
    if value <= 0:
        raise ValueError(f"--every must be positive, got {text!r}")
    return value * unit
