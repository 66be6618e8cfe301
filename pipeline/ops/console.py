"""The terminal of ``noisy-rnn run`` / ``retrain``: our lines only, the
libraries' output in ``<output>/logs/<command>-<time>.log``.

TensorFlow's C++ logs, absl and Beam logging and the ServingValidator's
clean process write to file descriptors 1 and 2, from native code and from
child processes, so redirecting ``sys.stdout`` would not catch them.
`Console.start` points the descriptors themselves at the log file (before
TensorFlow is imported) and keeps a duplicate of the terminal for our own
lines, which `Console.echo` writes to both. With ``verbose`` a ``tee``
process copies everything to the terminal as well.

On a terminal, `Console.status` keeps one live line (a running component's
elapsed time, the Trainer's step) that the next `echo` replaces; elsewhere
(CI logs, pipes) it prints nothing, so logs get no carriage-return spam.
"""

import os
import subprocess
import sys
import threading
import time
import traceback


class Console:
    """Our lines to the terminal and the log, everything else to the log.

    Args:
      log_dir: folder for the log file (created).
      command: the subcommand, the log file name's start.
      verbose: also show the libraries' output (and tracebacks).
    """

    def __init__(self, log_dir, command, verbose=False):
        os.makedirs(log_dir, exist_ok=True)
        self.log_path = os.path.join(
            log_dir, f"{command}-{time.strftime('%Y%m%d-%H%M%S')}.log")
        self.verbose = verbose
        self.lock = threading.Lock()
        self.terminal = self.terminal_err = self.log = self.tee = None
        self.live = False  # a status line is on screen
        self.terminal_gone = False  # its reader left (a closed pipe)
        self.interactive = False  # a terminal: live status lines

    def start(self):
        """Redirects fds 1 and 2 to the log (and, verbose, the terminal)."""
        sys.stdout.flush()
        sys.stderr.flush()
        self.terminal, self.terminal_err = os.dup(1), os.dup(2)
        self.log = os.open(self.log_path,
                           os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        target = self.log
        if self.verbose:
            self.tee = subprocess.Popen(  # pylint: disable=consider-using-with
                ["tee", "-a", self.log_path], stdin=subprocess.PIPE,
                stdout=self.terminal)
            target = self.tee.stdin.fileno()
        os.dup2(target, 1)
        os.dup2(target, 2)
        self.interactive = os.isatty(self.terminal) and not self.verbose
        return self

    def _write_terminal(self, text):
        """Writes to the terminal while it reads: once it is gone (e.g.
        ``noisy-rnn run ... | head``), our lines go to the log only and the
        run goes on."""
        if self.terminal_gone:
            return
        try:
            os.write(self.terminal, text.encode())
        except BrokenPipeError:
            self.terminal_gone = True

    def echo(self, line=""):
        """One of our lines: on the terminal and in the log."""
        with self.lock:
            if self.terminal is None:
                print(line, flush=True)
                return
            if self.live:
                self._write_terminal("\r\x1b[K")
                self.live = False
            if self.verbose:  # through tee: terminal and log, in order
                sys.stdout.flush()
                os.write(1, (line + "\n").encode())
            else:
                self._write_terminal(line + "\n")
                os.write(self.log, (line + "\n").encode())

    def status(self, line):
        """A live line on a terminal (replaced by the next one); nothing
        elsewhere."""
        with self.lock:
            if self.terminal is None or not self.interactive:
                return
            try:  # one screen line: a wrapped one could not be replaced
                width = os.get_terminal_size(self.terminal).columns - 1
            except OSError:
                width = 79
            self._write_terminal("\r\x1b[K" + line[:width])
            self.live = True

    def error(self, message):
        """An error: one line naming the log; with ``verbose`` (and always
        in the log) the traceback of the exception being handled."""
        if sys.exc_info()[0] is not None:
            traceback.print_exc()  # fd 2: the log (and, verbose, the screen)
            sys.stderr.flush()
        line = f"error: {message} (log: {self.log_path})"
        if self.terminal is None:
            print(line, file=sys.stderr, flush=True)
            return
        with self.lock:
            if self.live:
                self._write_terminal("\r\x1b[K")
                self.live = False
            os.write(self.terminal_err, (line + "\n").encode())
            os.write(self.log, (line + "\n").encode())

    def close(self):
        """Flushes the log; waits for ``tee`` to have copied everything."""
        sys.stdout.flush()
        sys.stderr.flush()
        if self.tee is not None:
            os.dup2(self.terminal, 1)
            os.dup2(self.terminal, 2)
            self.tee.stdin.close()
            try:  # a child still holding the pipe keeps tee alive: no wait
                self.tee.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
