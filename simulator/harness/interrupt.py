"""Stopping on the user's request (Ctrl-C, the TUI's stop): one flag per process, and the seed processes to stop.

Seed processes never see the user's signal: the process server they fork from starts with SIGINT ignored
(``sigint_ignored``) and each one ignores it again first thing (``shield_child``), so a Ctrl-C in the terminal
reaches only the parent, which stops them itself (``request`` kills every process ``track`` was told of). Whatever
was in flight when the flag went up raises ``Interrupted`` instead of producing a result: an interrupted simulation
is never recorded (not as an error, not in the telemetry, not in the budget), and resuming runs it again.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager


class Interrupted(KeyboardInterrupt):
    """The user stopped the run: the work in flight is discarded, never recorded as a result (a KeyboardInterrupt,
    so that nothing which handles ``Exception`` turns it into one)."""

    def __init__(self, message: str = "stopped by the user"):
        super().__init__(message)


_REQUESTED = threading.Event()
_LOCK = threading.Lock()
_PROCESSES: set = set()


def requested() -> bool:
    return _REQUESTED.is_set()


def request() -> None:
    """Stop: raise the flag, then kill every tracked seed process (their parents see the flag, not a crash)."""
    _REQUESTED.set()
    stop_processes()


def reset() -> None:
    """A new run (or a resumed one) in this process starts unstopped."""
    _REQUESTED.clear()


def check() -> None:
    """Raise ``Interrupted`` if a stop was requested."""
    if _REQUESTED.is_set():
        raise Interrupted()


def track(processes: Iterable) -> None:
    """Seed processes (``multiprocessing.Process``) a stop must kill."""
    with _LOCK:
        _PROCESSES.update(processes)


def untrack(processes: Iterable) -> None:
    with _LOCK:
        _PROCESSES.difference_update(processes)


def stop_processes() -> None:
    """Kill every tracked process now (safe from a signal handler and from any thread)."""
    with _LOCK:
        procs = list(_PROCESSES)
    for p in procs:
        try:
            p.kill()
        except (OSError, ValueError, AttributeError):  # already gone, or never started
            pass


@contextmanager
def sigint_ignored() -> Iterator[None]:
    """SIGINT ignored while a process server starts (its children inherit the disposition); only the main thread may
    change it, elsewhere (a TUI's worker, where no terminal signal comes) this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def shield_child() -> None:
    """First thing in a seed process: the user's Ctrl-C is for the parent, which stops this process itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
