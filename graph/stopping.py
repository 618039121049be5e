"""Ctrl-C at the command line: the first stops a run (or a comparison) within seconds, the second at once, and
neither loses anything.

The command's work goes on in a thread of its own while the main thread waits for it and takes the user's signals.
The first Ctrl-C raises the stop flag (``glia.simulator.harness.interrupt``): the seed processes, which never see the
signal, are killed by this process, and the step in flight raises ``Interrupted`` at its next check and is discarded, so
the run rests at its last finished step, resumable. A step that does not stop within ``GRACE_S`` (a model's reply being
written, most likely) is abandoned as a kill would: every finished step is checkpointed and nothing half-done was
recorded, so exiting then loses nothing either, and neither does a second Ctrl-C, which exits at once.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
GRACE_S = 8.0      # how long the step in flight may take to stop after the first Ctrl-C
EXIT_CODE = 130    # 128 + SIGINT, as shells report an interrupted command


def say(text: str) -> None:
    print(f"\n[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def _exit_now() -> None:
    from glia.simulator.harness import interrupt
    interrupt.stop_processes()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_CODE)


def drive(work: Callable[[], T], resume: str, abandoned: Callable[[], None] | None = None) -> T:
    """``work()`` under Ctrl-C's rules; its result, or the exception it raised (``Interrupted`` among them, when the
    user stopped it before it could say so itself). ``resume``: the command that continues it; ``abandoned``: what to
    print when the step in flight is abandoned (the process then exits with 130). Off the main thread (where no
    signal arrives) this is just ``work()``."""
    if threading.current_thread() is not threading.main_thread():
        return work()
    from glia.simulator.harness import interrupt  # here, not at the top: `glia --help` imports this module
    from glia.simulator.harness.sandbox import start_server
    start_server()  # here, so that its seed processes inherit SIGINT ignored
    interrupt.reset()
    box: dict = {}

    def target() -> None:
        try:
            box["value"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            box["error"] = exc

    stopped: list[float] = []

    def on_sigint(signum, frame) -> None:
        if stopped:
            say(f"stopped at once; `{resume}` continues from the last finished step (nothing is lost)")
            _exit_now()
        stopped.append(time.monotonic())
        interrupt.request()
        say(f"stopping: the step in flight is discarded and runs again on `{resume}` (Ctrl-C again exits at once, "
            "losing nothing either)")

    worker = threading.Thread(target=target, name="glia-work", daemon=True)
    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        worker.start()
        while worker.is_alive():
            worker.join(0.1)
            if stopped and worker.is_alive() and time.monotonic() - stopped[0] > GRACE_S:
                say(f"the step in flight did not stop within {GRACE_S:g} s (a model's reply, most likely): "
                    f"abandoned, as a kill would; nothing half-done is recorded; `{resume}` runs it again")
                if abandoned:
                    abandoned()
                _exit_now()
    finally:
        signal.signal(signal.SIGINT, previous)
    if "error" in box:
        raise box["error"]
    return box["value"]
