"""SIGTERM/SIGINT for the long-running processes, without a deadlock.

A Python signal handler runs in the main thread between two bytecodes, also while that thread is
inside `threading.Event.set()` or `.wait()` holding the event's lock. A handler that sets an event
itself can then wait for a lock its own thread holds, forever. It happened: a supervisor sent its
child two SIGTERMs close together, the second handler ran inside the first one's `Event.set()`,
and the child never stopped (found by CI).

So the handler does nothing but let the interpreter write the signal's number to a pipe
(`signal.set_wakeup_fd`, done in C: no lock, no Python code), and a small thread reads the pipe and
does the rest as an ordinary thread: it sets `STOP.event` and calls the callbacks given to
`STOP.on_stop`. This module imports only the standard library, so an entry point can catch the
signals first thing, before its slow imports.

At exit the stop signals are ignored: the stop is under way or done, and the interpreter's last
steps put the default handlers back, so one more SIGTERM then would end a clean stop as "killed".
"""
from __future__ import annotations

import atexit
import os
import signal
import threading

SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _ignore(_signum, _frame) -> None:
    """The Python-level handler: the wake-up pipe already carries the signal to the watcher."""


def _ignore_from_now() -> None:
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


class StopSignal:
    """One per process (`STOP`): `catch()` it, wait on `event`, register `on_stop` callbacks."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._callbacks: list = []
        self._lock = threading.Lock()
        self._pid = 0                     # the process whose watcher runs (a fork needs its own)

    def catch(self) -> None:
        """Put the handlers in place (from the main thread). Idempotent. A SIGTERM that was blocked
        (a supervised child starts so) is delivered now and stops the process as any other."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            read, write = os.pipe()
            os.set_blocking(write, False)
            threading.Thread(target=self._watch, args=(read,), name="mado-signals", daemon=True).start()
            self._write = write
            atexit.register(_ignore_from_now)
        signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        for sig in SIGNALS:
            signal.signal(sig, _ignore)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, set(SIGNALS))

    def _watch(self, read: int) -> None:
        wanted = {int(s) for s in SIGNALS}
        while True:
            data = os.read(read, 64)
            if not data:
                return
            if wanted.intersection(data):
                self.trigger()

    def trigger(self) -> None:
        """Stop: set the event, then call every callback (each may be called more than once)."""
        self.event.set()
        with self._lock:
            callbacks = list(self._callbacks)
        for fn in callbacks:
            fn()

    def on_stop(self, fn) -> None:
        """Call fn at the stop; at once if the stop has already come (never missed)."""
        with self._lock:
            self._callbacks.append(fn)
        if self.event.is_set():
            fn()


STOP = StopSignal()
