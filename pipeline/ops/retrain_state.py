"""What ``noisy-rnn retrain`` reads before it runs anything: its lock,
the last retrain's record and the served version; and whether there is
anything new at all (`nothing_new`). Nothing here imports TFX or
TensorFlow, so a cron call with no new span answers at once (the CLI asks
before importing the pipeline; `noisy_rnn.pipeline.ops.retrain` asks again
under the lock)."""

import contextlib
import fcntl
import json
import os
import time

from noisy_rnn.pipeline.ops import spans
from noisy_rnn.pipeline.serving import deploy

LOCK_FILE = "retrain.lock"
STATE_FILE = "retrain_state.json"


class RetrainBusy(RuntimeError):
    """Another retrain holds the lock."""


@contextlib.contextmanager
def retrain_lock(output):
    """Holds ``<output>/retrain.lock`` or raises `RetrainBusy` at once."""
    os.makedirs(output, exist_ok=True)
    path = os.path.join(output, LOCK_FILE)
    with open(path, "a+", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            raise RetrainBusy(f"another retrain is running ({holder}; lock "
                              f"{path}): exiting") from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"pid {os.getpid()} since {time.strftime('%F %T')}")
        lock.flush()
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def served_version(config):
    """The newest pushed version under the serving dir, or None."""
    versions = deploy.pushed_versions(config.serving_dir)
    return str(versions[-1]) if versions else None


def read_state(output):
    """The last retrain's record (``{}`` before the first)."""
    path = os.path.join(output, STATE_FILE)
    if not os.path.exists(path):
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except ValueError as error:
        raise ValueError(f"{path}: not valid JSON ({error}); delete it to "
                         f"retrain the latest span") from None


def nothing_new(config):
    """``(latest span, reason)`` when the latest span under
    ``config.spans_dir`` is one the last retrain attempted; else None (no
    spans folder or span yet: the full retrain says what is wrong)."""
    if not config.spans_dir or not os.path.isdir(config.spans_dir):
        return None
    available = spans.list_spans(config.spans_dir)
    state = read_state(config.output)
    if not available or state.get("last_span") is None or \
            available[-1] > state["last_span"]:
        return None
    return available[-1], (f"no new span since span {state['last_span']} "
                           f"({state.get('outcome', '')}): nothing to do")
