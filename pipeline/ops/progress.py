"""Live progress of a local run: each component's start and end, printed
as MLMD records them; while one runs, its elapsed time, and the Trainer's
step and latest validation metric (from its ``progress.json``), and the
Tuner's trial and best setting so far (from its own)."""

import json
import os
import threading
import time

from noisy_rnn.pipeline.ops.run_records import (FINAL_STATES, STATE_NAMES,
                                                execution_seconds, latest_run,
                                                node_id, open_store,
                                                setting_text)
from noisy_rnn.schemas import contracts

HEARTBEAT_SECONDS = 30  # without a live line: "still running" this often
# Running this long, a component is executing, not being served from the
# cache (see `ProgressMonitor`): a margin over the cache lookup's milliseconds.
EXECUTING_SECONDS = 2.0


class ProgressMonitor(threading.Thread):
    """Prints each component's start and end by polling MLMD.

    (TFX components reset absl's log level while they run, so watching the
    runner's log lines is unreliable; MLMD's executions are the record.)

    ``status``: shows a live line (a terminal); without it, a running
    component gets a line every `HEARTBEAT_SECONDS` instead. Each Trainer
    eval round gets a line either way. ``on_start(node)`` is called, from
    this thread, once a component has been running for `EXECUTING_SECONDS`:
    it is executing, not served from the cache (TFX registers a cached
    execution as running for the few milliseconds its cache lookup takes).
    """

    def __init__(self, config, echo, since_ms, interval=0.5, status=None,
                 on_start=None):
        super().__init__(daemon=True)
        self.config, self.echo, self.since_ms = config, echo, since_ms
        self.interval, self.done = interval, threading.Event()
        self.nodes, self.finished = {}, set()  # by execution id
        self.status, self.on_start = status, on_start
        self.rounds, self.heartbeats = {}, {}  # by execution id
        self.executing = set()  # ids passed to on_start

    def run(self):
        while not self.done.wait(self.interval):
            self.poll()
        self.poll()

    def stop(self):
        self.done.set()
        self.join()

    def poll(self):
        if not os.path.exists(self.config.metadata_path):
            return
        try:
            with open_store(self.config) as m:
                run = latest_run(m.store, self.since_ms)
                if run is None:
                    return
                executions = sorted(m.store.get_executions_by_context(run.id),
                                    key=lambda e: e.id)
                for execution in executions:
                    self._report(m.store, execution)
        except Exception:  # pylint: disable=broad-except
            return  # the store is being created or locked; next poll
        running = [e for e in executions if e.id not in self.finished]
        for execution in running[-1:]:
            self._running(execution)

    def _progress(self, node, execution):
        """The Trainer's ``progress.json`` (see
        `noisy_rnn.pipeline.trainer.progress`) or the Tuner's (see
        `noisy_rnn.pipeline.trainer.tuning.NoiseTuner.write_progress`), or
        None."""
        output = {"Trainer": "model_run", "Tuner": "tuner_results"}[node]
        path = os.path.join(self.config.pipeline_root, node, output,
                            str(execution.id), contracts.PROGRESS_FILE)
        try:
            with open(path, encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def _running(self, execution):
        node = self.nodes[execution.id]
        elapsed = time.time() - execution.create_time_since_epoch / 1000
        line = f"  {node} running {elapsed:.0f} s"  # fits a narrow terminal
        progress = (self._progress(node, execution)
                    if node in ("Trainer", "Tuner") else None)
        if progress and node == "Tuner":
            line += self._tuner_line(execution, progress)
        elif progress:
            line += f": step {progress['step']} of {progress['total_steps']}"
            latest = progress.get("latest")
            if latest:
                line += ", " + _validation_text(latest)
            if latest and progress["rounds"] > self.rounds.get(
                    execution.id, 0):
                self.rounds[execution.id] = progress["rounds"]
                self.echo(f"  {node:<28} step {latest['step']} of "
                          f"{progress['total_steps']}: "
                          f"{_validation_text(latest)}")
        if self.status is not None:
            self.status(line)
        elif elapsed - self.heartbeats.get(execution.id, 0) >= \
                HEARTBEAT_SECONDS:
            self.heartbeats[execution.id] = elapsed
            self.echo(line)

    def _tuner_line(self, execution, progress):
        """``: trial N of M, best ...`` for the live line; each finished
        trial also gets a line of its own."""
        best, latest = progress["best"], progress["latest"]
        if progress["trial"] > self.rounds.get(execution.id, 0):
            self.rounds[execution.id] = progress["trial"]
            self.echo(f"  {'Tuner':<28} trial {progress['trial']} of "
                      f"{progress['trials']}: {_setting_text(latest)}; best "
                      f"so far: {_setting_text(best)}")
        return (f": trial {progress['trial']} of {progress['trials']} done, "
                f"best val_loss {best['mean']:.4g}")

    def _report(self, store, execution):
        if execution.id in self.finished:
            return
        if execution.id not in self.nodes:
            self.nodes[execution.id] = node_id(store, execution)
            self.echo(f"  {self.nodes[execution.id]:<28} started")
        state = execution.last_known_state
        if (self.on_start is not None and state not in FINAL_STATES and
                execution.id not in self.executing and
                time.time() - execution.create_time_since_epoch / 1000 >=
                EXECUTING_SECONDS):
            self.executing.add(execution.id)
            self.on_start(self.nodes[execution.id])
        if state in FINAL_STATES:
            self.finished.add(execution.id)
            self.echo(f"  {self.nodes[execution.id]:<28} "
                      f"{STATE_NAMES[state]:<9} "
                      f"{execution_seconds(execution):6.1f} s")


def _setting_text(result):
    """``--noise additive --noise-std 0.1 ...: val_loss 0.41 +- 0.02``."""
    return (f"{setting_text(result['setting'])}: val_loss "
            f"{result['mean']:.4g} +- {result['sd']:.2g}")


def _validation_text(values):
    """``val_loss 0.41, val_accuracy 0.93`` from an eval round."""
    return ", ".join(f"{name} {value:.4g}" for name, value in values.items()
                     if name.startswith("val_"))
