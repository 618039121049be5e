"""The clean process server every process that runs model-written code is forked from.

A seed process (normal or hardened mode) and a served policy (``glia route``) must inherit nothing from Glia: not its
environment (API keys, endpoints), not its descriptors (multiprocessing's forkserver hands every child its
``alive`` pipe, whose one byte makes it restart the server with Glia's full environment, and the resource tracker's
pipe, which unlinks shared memory on request), not its terminal (output or Ctrl-C). So Glia starts this server once,
as a fresh interpreter (``python -m glia.simulator.harness.zygote FD``) with an environment of a few harmless variables,
standard streams on ``/dev/null``, in a session of its own, holding one Unix socket to its parent. It imports the
simulator once, then forks a child per request:

- the request (``spawn``): the target (a name from ``TARGETS``, never arbitrary code), its arguments (pickled by the
  trusted parent; nothing is ever unpickled from a child) and the descriptors it needs (SCM_RIGHTS): a status pipe,
  an output pipe and the child's sockets;
- the child, before its target runs: a session of its own (terminal signals never reach it), killed if the server
  dies, standard input on ``/dev/null``, standard output and error on the output pipe (the parent reads it as data,
  capped, and never writes it to a terminal), every other descriptor closed;
- the status pipe carries the child's pid, then its exit status once reaped (the parent is not its parent) with the
  CPU seconds it used, as the kernel counted them (``wait4``): what a seed cost, whatever its code claims.

When the parent goes (its socket closes), the server kills every child it started and exits.
"""

from __future__ import annotations

import errno
import fcntl
import gc
import importlib
import os
import pickle
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import weakref

from glia.simulator.isolation import confine

# what a child may run: module-level functions of the simulator (and the router's policy worker)
TARGETS = {
    "normal": ("glia.simulator.harness.sandbox", "normal_child"),
    "trusted": ("glia.simulator.harness.sandbox", "trusted_child"),
    "policy": ("glia.simulator.harness.sandbox", "policy_child"),
    "served_policy": ("glia.simulator.harness.sandbox", "served_policy_child"),
}
PRELOAD = ("glia.simulator.harness.sandbox",)
_HEADER = struct.Struct("<Q")
_STATUS = struct.Struct("<cqq")  # b"P" pid, then b"X" wait status and the CPU microseconds it used (the kernel's)
MAX_FDS = 8


# -- the server ------------------------------------------------------------------------------------------------------
def _recv_request(sock: socket.socket) -> tuple[bytes, list[int]] | None:
    head, fds, _, _ = socket.recv_fds(sock, _HEADER.size, MAX_FDS)
    if not head:
        return None
    while len(head) < _HEADER.size:
        more = sock.recv(_HEADER.size - len(head))
        if not more:
            return None
        head += more
    (n,) = _HEADER.unpack(head)
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(min(1 << 20, n - len(data)))
        if not chunk:
            return None
        data += chunk
    return bytes(data), fds


def _close_all_but(keep: set[int]) -> None:
    for fd in sorted(int(f) for f in os.listdir("/proc/self/fd")):
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def _renumber(fds: list[int]) -> list[int]:
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100) for fd in fds]
    for fd in fds:
        os.close(fd)
    out = []
    for i, fd in enumerate(high):
        os.dup2(fd, 3 + i, inheritable=False)
        os.close(fd)
        out.append(3 + i)
    return out


def _child(target: str, args: tuple, fds: list[int], server: int) -> None:
    """In the forked child: cut every tie with the server and its parent, then run the target."""
    code = 0
    try:
        signal.set_wakeup_fd(-1)
        # SIGPIPE stays ignored, as in Python, and SIGINT as in the server: the user's Ctrl-C is the parent's to
        # handle, from the child's first instruction on (the target ignores it again: ``interrupt.shield_child``)
        for sig in (signal.SIGCHLD, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        os.setsid()
        confine._prctl(confine.PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != server:
            os._exit(1)
        status_w, out_w, *conns = fds
        os.close(status_w)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(out_w, 1)
        os.dup2(out_w, 2)
        os.close(null)
        os.close(out_w)
        _close_all_but(set(conns))
        conns = _renumber(conns)  # 3, 4, ...: the child holds nothing else
        module, name = TARGETS[target]
        getattr(importlib.import_module(module), name)(*conns, *args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - the target reports its own errors; this is the last resort
        code = 70
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:  # noqa: BLE001
            pass
        os._exit(code)


def serve(ctl_fd: int) -> None:
    """The server's loop: fork a child per request, report pids and exit statuses, end with the parent."""
    for m in PRELOAD:
        importlib.import_module(m)
    from glia.simulator.policy import guard
    guard.prepare_facades()  # every module a policy may import, imported once here rather than in each child
    ctl = socket.socket(fileno=ctl_fd)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    children: dict[int, int] = {}  # pid -> its status pipe
    me = os.getpid()
    # what is imported stays shared with every child: out of the collector's sight, so that a child's collections
    # never touch (and so copy) the server's pages
    gc.collect()
    gc.freeze()
    ctl.sendall(b"R")  # ready: the simulator is imported

    def reap() -> None:
        while children:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if not pid:
                return
            fd = children.pop(pid, None)
            if fd is not None:
                try:
                    cpu_us = round((usage.ru_utime + usage.ru_stime) * 1e6) if pid else 0
                    os.write(fd, _STATUS.pack(b"X", status, cpu_us))
                except OSError:
                    pass
                os.close(fd)

    try:
        while True:
            ready, _, _ = select.select([ctl, wake_r], [], [])
            if wake_r in ready:
                try:
                    os.read(wake_r, 512)
                except BlockingIOError:
                    pass
                reap()
            if ctl not in ready:
                continue
            got = _recv_request(ctl)
            if got is None:
                return
            data, fds = got
            try:
                target, args = pickle.loads(data)
                if target not in TARGETS or len(fds) < 2:
                    raise ValueError(f"bad request {target!r}")
            except Exception:  # noqa: BLE001 - a malformed request from our own parent: drop it
                for fd in fds:
                    os.close(fd)
                continue
            pid = os.fork()
            if pid == 0:
                ctl.close()
                _child(target, args, fds, me)
            os.write(fds[0], _STATUS.pack(b"P", pid, 0))
            children[pid] = fds[0]
            for fd in fds[1:]:
                os.close(fd)
            reap()
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        os._exit(0)


# -- the parent's side -----------------------------------------------------------------------------------------------
class ZygoteError(RuntimeError):
    """The process server could not start or serve a request."""


class Child:
    """A process the server forked for this parent: its pid, its output pipe (read as data), its exit status."""

    def __init__(self, pid: int, status_r: int, out_r: int):
        self.pid, self.status_r, self.out_r = pid, status_r, out_r
        self.status: int | None = None   # the wait status, once reaped
        self.cpu_s: float | None = None  # the CPU seconds it used (user + system), once reaped
        self.output = bytearray()
        self.output_dropped = 0
        self._pidfd: int | None = None
        try:
            self._pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            pass
        os.set_blocking(out_r, False)
        _LIVE.add(self)

    @property
    def exitcode(self) -> int | None:
        """As ``multiprocessing.Process.exitcode``: the code, or minus the signal that killed it; None if running."""
        self.poll()
        return None if self.status is None else os.waitstatus_to_exitcode(self.status)

    def poll(self, timeout: float = 0.0) -> bool:
        """Whether it has ended (its status read), waiting at most ``timeout`` seconds."""
        if self.status is None and self.status_r >= 0:
            ready, _, _ = select.select([self.status_r], [], [], timeout)
            if ready:
                data = _read_exact(self.status_r, _STATUS.size)
                if data is not None:
                    _, self.status, cpu_us = _STATUS.unpack(data)
                    self.cpu_s = cpu_us / 1e6
                else:  # the server died: the child died with it (PR_SET_PDEATHSIG)
                    self.status = signal.SIGKILL
                self._close_status()
        return self.status is not None

    def join(self, timeout: float) -> None:
        self.poll(timeout)

    def is_alive(self) -> bool:
        return not self.poll()

    def read_output(self, limit: int) -> None:
        """Take what the child wrote so far (keeping ``limit`` bytes, counting the rest)."""
        while True:
            try:
                chunk = os.read(self.out_r, 65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if not chunk:
                return
            room = max(0, limit - len(self.output))
            self.output += chunk[:room]
            self.output_dropped += max(0, len(chunk) - room)

    def kill(self) -> None:
        """SIGKILL, unless it has already ended (then its pid may belong to another process)."""
        if self.poll():
            return
        try:
            if self._pidfd is not None:
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
            else:
                os.kill(self.pid, signal.SIGKILL)
        except (ProcessLookupError, OSError):
            pass

    def close(self) -> None:
        self._close_status()
        for name in ("out_r", "_pidfd"):
            fd = getattr(self, name)
            if fd is not None and fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
                setattr(self, name, -1 if name == "out_r" else None)
        _LIVE.discard(self)

    def _close_status(self) -> None:
        if self.status_r >= 0:
            os.close(self.status_r)
            self.status_r = -1


_LIVE: weakref.WeakSet[Child] = weakref.WeakSet()


def _read_exact(fd: int, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        try:
            chunk = os.read(fd, n - len(data))
        except InterruptedError:
            continue
        if not chunk:
            return None
        data += chunk
    return data


class Zygote:
    """The parent's handle on the server (one per process, started on first use, restarted if it died)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._proc: subprocess.Popen | None = None

    def _ensure(self) -> socket.socket:
        if self._sock is not None and self._proc is not None and self._proc.poll() is None:
            return self._sock
        self._shutdown()
        mine, theirs = socket.socketpair()
        env = confine.safe_env()
        if os.environ.get("PYTHONPATH"):
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "glia.simulator.harness.zygote", str(theirs.fileno())],
                                          pass_fds=[theirs.fileno()],
                env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                start_new_session=True, cwd="/")
        finally:
            theirs.close()
        mine.settimeout(60)
        try:
            ok = mine.recv(1)
        except OSError:
            ok = b""
        mine.settimeout(None)
        if ok != b"R":
            err = self._proc.stderr.read(4000).decode(errors="replace") if self._proc.stderr else ""
            self._proc.kill()
            self._proc.wait()
            mine.close()
            self._proc = None
            raise ZygoteError(f"the seed process server did not start: {err.strip() or 'no output'}")
        self._proc.stderr.close()
        self._sock = mine
        return mine

    def spawn(self, target: str, args: tuple, conns: list[int]) -> Child:
        """Fork a child running ``TARGETS[target](*conns, *args)`` with the descriptors ``conns`` (the caller keeps
        and closes its own copies)."""
        data = pickle.dumps((target, args), protocol=pickle.HIGHEST_PROTOCOL)
        status_r, status_w = os.pipe()
        out_r, out_w = os.pipe()
        try:
            with self._lock:
                sock = self._ensure()
                try:
                    socket.send_fds(sock, [_HEADER.pack(len(data))], [status_w, out_w, *conns])
                    sock.sendall(data)
                except OSError as exc:
                    self._shutdown()
                    raise ZygoteError(f"the seed process server is gone ({exc})") from None
        finally:
            os.close(status_w)
            os.close(out_w)
        head = _read_exact(status_r, _STATUS.size)
        if head is None:
            os.close(status_r)
            os.close(out_r)
            raise ZygoteError("the seed process server did not start the process")
        return Child(_STATUS.unpack(head)[1], status_r, out_r)

    def _shutdown(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._proc is not None:
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None


_ZYGOTE = Zygote()


def spawn(target: str, args: tuple, conns: list[int]) -> Child:
    return _ZYGOTE.spawn(target, args, conns)


def start() -> None:
    """Start the server now, if it is not running (else on the first ``spawn``)."""
    with _ZYGOTE._lock:
        _ZYGOTE._ensure()


def stop_all() -> int:
    """Kill every process this parent's server started that is still running (the hook for Ctrl-C: the parent
    stops its children, which never see the terminal's signals themselves); how many were killed."""
    n = 0
    for child in list(_LIVE):
        if not child.poll():
            child.kill()
            n += 1
    return n


def wait_any(fds: list, timeout: float) -> list:
    """The objects of ``fds`` (descriptors or objects with ``fileno()``) readable within ``timeout`` seconds."""
    try:
        ready, _, _ = select.select(fds, [], [], max(0.0, timeout))
    except InterruptedError:
        return []
    except OSError as exc:
        if exc.errno == errno.EBADF:
            return []
        raise
    return ready


if __name__ == "__main__":
    serve(int(sys.argv[1]))
