"""Live progress of a local run: each component's start and end, printed
as MLMD records them."""

import os
import threading

from noisy_rnn.pipeline.ops.run_records import (FINAL_STATES, STATE_NAMES,
                                                execution_seconds, latest_run,
                                                node_id, open_store)


class ProgressMonitor(threading.Thread):
    """Prints each component's start and end by polling MLMD.

    (TFX components reset absl's log level while they run, so watching the
    runner's log lines is unreliable; MLMD's executions are the record.)
    """

    def __init__(self, config, echo, since_ms, interval=0.5):
        super().__init__(daemon=True)
        self.config, self.echo, self.since_ms = config, echo, since_ms
        self.interval, self.done = interval, threading.Event()
        self.nodes, self.finished = {}, set()  # by execution id

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

    def _report(self, store, execution):
        if execution.id in self.finished:
            return
        if execution.id not in self.nodes:
            self.nodes[execution.id] = node_id(store, execution)
            self.echo(f"  {self.nodes[execution.id]:<28} started")
        state = execution.last_known_state
        if state in FINAL_STATES:
            self.finished.add(execution.id)
            self.echo(f"  {self.nodes[execution.id]:<28} "
                      f"{STATE_NAMES[state]:<9} "
                      f"{execution_seconds(execution):6.1f} s")
