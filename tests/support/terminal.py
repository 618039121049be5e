"""A ``glia`` command driven as a user drives it at a terminal: started in a session of its own, so that a Ctrl-C
reaches its whole process group as a terminal's does; its seed processes found (the children of its process
server) and frozen, so that a signal lands while a chosen phase is in flight however loaded the machine is;
its output read line by line as it comes. Used by the interrupt tests and ``benchmarks/interrupts.py``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

CAP_S = 240.0   # a generous cap on any wait: conditions are waited for, never timed


def _children() -> dict[int, list[int]]:
    """pid -> its children's pids, from /proc."""
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        out.setdefault(ppid, []).append(int(entry))
    return out


def state_of(pid: int) -> str:
    """The process's state letter (R, S, T stopped, Z zombie), or "" when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return ""


def ignores_sigint(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigIgn:")), 16)
    return bool(mask & (1 << (signal.SIGINT - 1)))


class Glia:
    """``python -m glia.graph.cli ARGS`` in its own session, its output collected as it comes."""

    def __init__(self, *args: str, cwd: str | Path | None = None, env: dict | None = None):
        self.args = args
        self.proc = subprocess.Popen([sys.executable, "-m", "glia.graph.cli", *args], cwd=cwd,
                                     env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                                     start_new_session=True)
        self.out: list[str] = []
        self.err: list[str] = []
        self._readers = [threading.Thread(target=self._read, args=(stream, lines), daemon=True)
                         for stream, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for t in self._readers:
            t.start()

    @staticmethod
    def _read(stream, lines: list[str]) -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))

    @property
    def stdout(self) -> str:
        return "\n".join(self.out)

    @property
    def stderr(self) -> str:
        return "\n".join(self.err)

    def wait_for(self, condition, what: str, cap: float = CAP_S):
        """Poll ``condition()`` until it holds (returning its value); fail if the command ends first."""
        end = time.monotonic() + cap
        while time.monotonic() < end:
            value = condition()
            if value:
                return value
            if self.proc.poll() is not None:
                raise AssertionError(f"glia ended (code {self.proc.returncode}) before {what}:\n{self.stderr}\n"
                                     f"{self.stdout}")
            time.sleep(0.01)
        raise AssertionError(f"not {what} within {cap:g} s:\n{self.stderr}")

    def seed_processes(self) -> list[int]:
        """The live seed processes: children of the process server this command started
        (``glia.simulator.harness.zygote``; they run in sessions of their own, so a terminal's Ctrl-C never reaches
        them)."""
        tree = _children()
        servers = [c for c in tree.get(self.proc.pid, []) if b"glia.simulator.harness.zygote" in _cmdline(c)]
        return [s for server in servers for s in tree.get(server, []) if state_of(s) not in ("", "Z")]

    def freeze_a_seed(self, when=lambda: True, what: str = "a seed process ran") -> int:
        """Stop (SIGSTOP) a seed process while ``when()`` holds (checked again once it is stopped, so that it is one
        of the phase ``when`` describes): that phase cannot end before the signal the test sends next. Its pid."""
        def frozen():
            if not when():
                return None
            for pid in self.seed_processes():
                try:
                    os.kill(pid, signal.SIGSTOP)
                except ProcessLookupError:
                    continue
                for _ in range(200):  # SIGSTOP is asynchronous: wait until the kernel shows it stopped (or gone)
                    if state_of(pid) in ("T", "t", "", "Z"):
                        break
                    time.sleep(0.005)
                if state_of(pid) in ("T", "t"):
                    if when():
                        return pid
                    os.kill(pid, signal.SIGCONT)  # the phase moved on meanwhile: let it go, try again
            return None
        return self.wait_for(frozen, what)

    def ctrl_c(self) -> None:
        """SIGINT to the whole process group, as a terminal's Ctrl-C."""
        os.killpg(self.proc.pid, signal.SIGINT)

    def finish(self, cap: float = CAP_S) -> int:
        try:
            code = self.proc.wait(cap)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"glia did not end within {cap:g} s:\n{self.stderr}") from None
        for t in self._readers:
            t.join(10)
        return code

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(30)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def run(*args: str, cap: float = CAP_S, **kwargs) -> Glia:
    """A command carried to its end."""
    g = Glia(*args, **kwargs)
    g.finish(cap)
    return g
