"""One seed's raw records as bytes, the only thing a seed process sends back, and the frames that carry them.

The harness never unpickles what a process that ran policy code sent (a pickle can run any code): the format is a
JSON header and typed numeric columns (one array per column, never an object per request), decoded with fixed
dtypes and checked lengths. Figures are not in it: the harness computes them from these records once they pass
``verify``.

A message between a seed process and the harness is a frame: its length (8 bytes), then its bytes. The harness reads
frames without blocking (``Inbox``) and refuses one whose announced length exceeds what the message may hold
(``max_bytes``: a few megabytes plus a bound per request of the workload) before reading any of it, so a process
that floods its pipe costs the harness no memory and no time.
"""

from __future__ import annotations

import json
import math
import socket
import struct

import numpy as np

from glia.simulator.engine import RunResult
from glia.simulator.rows import Rows

MAGIC = b"GLIA-RECORDS-1\n"
MAX_BYTES = 1 << 30           # no message is larger than this, whatever the workload
FIRST_MESSAGE_BYTES = 4096    # the isolation report a seed process sends before any policy code runs
BASE_BYTES = 16 << 20         # records: this plus PER_REQUEST_BYTES per request of the workload
PER_REQUEST_BYTES = 2048      # an honest run takes ~200 (the request's columns, its 3 events, a restart's 2)
FRAME = struct.Struct("<Q")
REQUEST_COLUMNS = (("request_id", "<i8"), ("arrived_at", "<f8"), ("num_prefill_tokens", "<i8"),
                   ("num_decode_tokens", "<i8"), ("routed_at", "<f8"), ("replica_id", "<i8"), ("scheduled_at", "<f8"),
                   ("first_token_at", "<f8"), ("completed_at", "<f8"), ("num_restarts", "<i8"),
                   ("wasted_tokens", "<i8"))
SAMPLE_COLUMNS = (("t", "<f8"), ("replica", "<i8"), ("pending", "<i8"), ("active", "<i8"), ("allocated", "<i8"),
                  ("blocks", "<i8"), ("queue", "<i8"))
EVENT_COLUMNS = (("t", "<f8"), ("kind", "<u1"), ("request", "<i8"), ("replica", "<i8"), ("value", "<i8"))
SCALING_COLUMNS = (("t", "<f8"), ("action", "<u1"), ("replica", "<i8"))
EVENT_KINDS = ("route", "admit", "preempt", "complete")
SCALING_ACTIONS = ("start", "ready", "drain", "release")
SCALARS = ("makespan_s", "gpu_hours", "busy_s", "replica_seconds", "num_preemptions")
TABLES = {"requests": REQUEST_COLUMNS, "samples": SAMPLE_COLUMNS, "events": EVENT_COLUMNS, "scaling": SCALING_COLUMNS}
MAX_MESSAGE = 4000


class WireError(ValueError):
    """The bytes are not a well-formed record of the expected seed."""


def _columns(rows: list[tuple], spec: tuple, codes: tuple[str, ...] = ()) -> list[np.ndarray]:
    if not rows:
        return [np.asarray([], dtype=dtype) for _, dtype in spec]
    transposed = list(zip(*rows, strict=False))  # one tuple per column, built in C (not a list per row)
    index = {name: k for k, name in enumerate(codes)}
    out = []
    for i, (_, dtype) in enumerate(spec):
        col = transposed[i]
        if dtype == "<u1":
            col = [index[v] for v in col]
        out.append(np.asarray(col, dtype=dtype))
    return out


def encode(seed: int, run: RunResult | None, error: dict | None, wall_s: float) -> bytes:
    """The seed's records (or its error) as bytes."""
    header: dict = {"seed": seed, "error": error, "wall_s": wall_s, "scalars": {}, "tables": {}}
    buffers: list[bytes] = []
    if run is not None:
        header["scalars"] = {k: float(getattr(run, k)) for k in SCALARS}
        tables = {"requests": [np.asarray(run.requests[name], dtype=dt) for name, dt in REQUEST_COLUMNS],
                  "samples": _columns(run.samples, SAMPLE_COLUMNS),
                  "events": _columns(run.events, EVENT_COLUMNS, EVENT_KINDS),
                  "scaling": _columns(run.scaling, SCALING_COLUMNS, SCALING_ACTIONS)}
        for name, cols in tables.items():
            header["tables"][name] = len(cols[0]) if cols else 0
            buffers += [c.tobytes() for c in cols]
    head = json.dumps(header).encode()
    return MAGIC + struct.pack("<Q", len(head)) + head + b"".join(buffers)


def holds_error(data: bytes) -> bool:
    """Whether ``encode``'s bytes carry an error rather than records (the header alone is read)."""
    try:
        (n,) = struct.unpack_from("<Q", data, len(MAGIC))
        return json.loads(data[len(MAGIC) + 8:len(MAGIC) + 8 + n]).get("error") is not None
    except (struct.error, ValueError, AttributeError):
        return True  # malformed: decoding it says how, at once


def _text(v, what: str) -> str:
    if not isinstance(v, str):
        raise WireError(f"{what} is not text")
    return "".join(c if c.isprintable() or c == "\n" else "?" for c in v[:MAX_MESSAGE])


def decode(data: bytes, seed: int) -> tuple[RunResult | None, dict | None, float]:
    """(records, error, wall seconds) of seed ``seed`` from ``encode``'s bytes; ``WireError`` if malformed."""
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 8:
        raise WireError("the seed process sent something other than records")
    (n,) = struct.unpack_from("<Q", data, len(MAGIC))
    start = len(MAGIC) + 8
    if n > 1 << 20 or start + n > len(data):
        raise WireError("the records' header is malformed")
    try:
        header = json.loads(data[start:start + n])
    except ValueError:
        raise WireError("the records' header is not JSON") from None
    if not isinstance(header, dict) or header.get("seed") != seed:
        raise WireError(f"the records are not those of seed {seed}")
    wall = header.get("wall_s")
    wall = float(wall) if isinstance(wall, (int, float)) and math.isfinite(wall) else math.nan
    err = header.get("error")
    if err is not None:
        if not isinstance(err, dict):
            raise WireError("the records' error is malformed")
        return None, {"kind": _text(err.get("kind"), "error kind")[:40],
                      "message": _text(err.get("message"), "error message")}, wall
    scalars, tables = header.get("scalars"), header.get("tables")
    if not isinstance(scalars, dict) or not isinstance(tables, dict) or set(scalars) != set(SCALARS) \
            or set(tables) != set(TABLES):
        raise WireError("the records' header is missing fields")
    pos, cols = start + n, {}
    for name, spec in TABLES.items():
        rows = tables[name]
        if not isinstance(rows, int) or rows < 0:
            raise WireError(f"the records' {name} count is malformed")
        for col, dtype in spec:
            size = rows * np.dtype(dtype).itemsize
            if pos + size > len(data):
                raise WireError(f"the records' {name} are truncated")
            cols[name, col] = np.frombuffer(data, dtype=dtype, count=rows, offset=pos).copy()
            pos += size
    if pos != len(data):
        raise WireError("the records have trailing bytes")
    for name, codes in (("events", EVENT_KINDS), ("scaling", SCALING_ACTIONS)):
        key = (name, "kind" if name == "events" else "action")
        if len(cols[key]) and int(cols[key].max()) >= len(codes):
            raise WireError(f"the records' {name} have an unknown kind")

    def rows(name: str, codes: tuple[str, ...] = ()) -> Rows:
        """The table kept as its columns (read as rows where rows are wanted; no object per row made here)."""
        return Rows([cols[name, c] for c, _ in TABLES[name]], {1: codes} if codes else None)

    values = {}
    for k in SCALARS:
        v = scalars[k]
        if not isinstance(v, (int, float)):
            raise WireError(f"the records' {k} is not a number")
        values[k] = float(v)
    run = RunResult(seed=seed, requests={c: cols["requests", c] for c, _ in REQUEST_COLUMNS},
                    makespan_s=values["makespan_s"], gpu_hours=values["gpu_hours"], busy_s=values["busy_s"],
                    replica_seconds=values["replica_seconds"], num_preemptions=int(values["num_preemptions"]),
                    samples=rows("samples"), events=rows("events", EVENT_KINDS),
                    scaling=rows("scaling", SCALING_ACTIONS))
    return run, None, wall


def max_bytes(num_requests: int | None) -> int:
    """The most a seed's records may take for a workload of ``num_requests`` requests (None: unknown in advance,
    a closed loop)."""
    if num_requests is None:
        return 4 * BASE_BYTES
    return min(MAX_BYTES, BASE_BYTES + PER_REQUEST_BYTES * int(num_requests))


def send_frame(sock: socket.socket, data: bytes) -> None:
    """One frame on a (blocking) socket."""
    sock.sendall(FRAME.pack(len(data)))
    sock.sendall(data)


def recv_frame(sock: socket.socket, limit: int) -> bytes | None:
    """One frame from a (blocking) socket, at most ``limit`` bytes; None at the end of the stream or past it."""
    head = _recv_exact(sock, FRAME.size)
    if head is None:
        return None
    (n,) = FRAME.unpack(head)
    return _recv_exact(sock, n) if n <= limit else None


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


class Inbox:
    """The harness's end of a seed process's socket, read without blocking: whole frames, each within a limit
    checked against its announced length before its bytes are read."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        sock.setblocking(False)
        self.buf = bytearray()
        self.frames: list[bytes] = []
        self.eof = False
        self.too_big: int | None = None   # the length announced by a frame over its limit

    def fileno(self) -> int:
        return self.sock.fileno()

    def pump(self, limit: int) -> None:
        """Read what is available; complete frames go to ``frames``. ``limit``: the most the next frame may hold."""
        while not self.eof and self.too_big is None:
            need = FRAME.size
            if len(self.buf) >= FRAME.size:
                (n,) = FRAME.unpack_from(self.buf)
                if n > limit:
                    self.too_big = n
                    return
                need += n
                if len(self.buf) >= need:
                    self.frames.append(bytes(self.buf[FRAME.size:need]))
                    del self.buf[:need]
                    continue
            try:
                chunk = self.sock.recv(min(max(need - len(self.buf), 4096), 1 << 22))
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.eof = True
                return
            if not chunk:
                self.eof = True
                return
            self.buf += chunk

    def send(self, data: bytes) -> None:
        try:
            self.sock.setblocking(True)
            send_frame(self.sock, data)
        except OSError:
            pass
        finally:
            self.sock.setblocking(False)

    def close(self) -> None:
        self.sock.close()
