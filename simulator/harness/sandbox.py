"""Run simulations of untrusted policies in confined child processes; the harness computes the figures itself.

Per seed, in the normal mode, one process forked from a clean server (``zygote.py``: a fresh interpreter with a
scrubbed environment; the child keeps no descriptor but its own socket, runs in a session of its own, its output
captured as data) does the harness's own work first (it generates the workload), confines itself (``confine.py``:
no network, no writes, reads of the Python installation only, no processes, limits), reports the isolation it got,
installs the audit hook (``guard.py``: a courtesy that turns mistakes into good errors, not a boundary), then loads
and runs the policy with the simulator and sends back raw records (``wire.py``: size-capped frames of typed
columns). The parent checks the records against the workload it regenerates, the scheduler's rules and the
execution model's physics, replays one replica of one seed with its own replica scheduler, and only then computes
the figures (``verify.py``): a policy that patches the simulator, its metrics or the records in its own process
changes nothing the harness reports, or fails with ``tampered_records``. What such a policy can still do there is
route with what it should not know (the hidden lengths it can reach once past the audit hook): records of a run it
really made, which no check can tell from honest ones. So the figures that are reported (a new best, its held-out
figures) come from the hardened mode, where the simulator runs in a process of its own and drives the policy's
process over a pipe (``hardened.py``): that process never holds the simulator, the lengths or the records.

Whatever a policy does (raise, loop forever, exhaust memory, break the routing rules, crash the interpreter, reach
for files, the network or the harness), the caller gets a ``SeedOutcome`` whose ``error`` names the problem, and the
other seeds go on. ``stop_all`` is the parent's hook to stop every seed process at once (they never see the
terminal's signals: each runs in a session of its own).
"""

from __future__ import annotations

import json
import math
import os
import random
import secrets
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from glia.simulator.config import SimulationConfig
from glia.simulator.engine import RunResult, Simulation
from glia.simulator.harness import hardened, interrupt, verify, wire, zygote
from glia.simulator.isolation import confine
from glia.simulator.policy import guard
from glia.simulator.policy.loader import PolicyLoadError, PolicySource, load_policy, stack_sources
from glia.simulator.request import PolicyViolation
from glia.simulator.workloads import ClosedLoop

SIMULATOR_DIR = str(Path(__file__).parents[1])
DATA_DIR = str(Path(__file__).parents[1] / "data")  # the traces: never readable by policy code


@dataclass
class SeedOutcome:
    """One seed of one benchmark: its figures, its raw telemetry, or what went wrong."""

    seed: int
    summary: dict | None = None
    requests: dict[str, np.ndarray] | None = None
    samples: list = field(default_factory=list)
    events: list = field(default_factory=list)
    scaling: list = field(default_factory=list)
    error: dict | None = None
    wall_s: float = 0.0
    cpu_s: float | None = None  # the CPU seconds its processes used, as the kernel counted them (None: not known)
    isolation: str = ""  # the mechanisms the policy's process confined itself with ("" when it ran in-process)
    output: str = ""     # what its processes printed, as inert text (never written to a terminal)
    replayed: str = ""   # the replica replayed from its records (the check that bounds them from above), if any


def error(kind: str, message: str) -> dict:
    return {"kind": kind, "message": message}


def failure(exc: BaseException, running: bool = False) -> dict:
    """The structured error for an exception raised while setting up (a ValueError: the configuration) or
    ``running`` a simulation (a ValueError then: a simulator bug, or state a policy corrupted)."""
    if isinstance(exc, PolicyLoadError):
        return error("load_error", str(exc))
    if isinstance(exc, PolicyViolation):
        return error(exc.kind, str(exc))
    if isinstance(exc, verify.TamperedRecords):
        return error(exc.kind, str(exc))
    if isinstance(exc, MemoryError):
        return error("memory", "the simulation ran out of memory (memory cap reached; MemoryError)")
    if isinstance(exc, RecursionError):
        return error("exception", "the policy recursed without bound (RecursionError)")
    if isinstance(exc, ValueError) and not running:
        return error("config", str(exc))
    # a simulator bug: report it with its origin
    frame = traceback.StackSummary.extract(traceback.walk_tb(exc.__traceback__), lookup_lines=False)[-1]
    return error("internal", f"{type(exc).__name__} at {frame.filename}:{frame.lineno}: {exc}")


def _seed_generators(seed: int) -> None:
    """The process-wide generators too, so that a policy file using them directly (instead of ``self.rng``) is still
    reproducible seed for seed."""
    random.seed(seed)
    np.random.seed(seed % 2**32)


def simulate_seed(config: SimulationConfig, policy: str | PolicySource, seed: int, fast: bool = True) -> SeedOutcome:
    """Load the policy and run one seed in this process (trusted policies: no confinement, no audit hook); the
    records are checked and measured as a child's would be."""
    start, cpu = time.perf_counter(), time.thread_time()
    out = SeedOutcome(seed)
    _seed_generators(seed)
    try:
        sim = Simulation(config, load_policy(policy), seed, fast=fast)
    except Exception as exc:
        out.error = failure(exc)
    else:
        try:
            run = sim.run()
            out.summary, out.requests = verify.measure(config, seed, run)
            out.samples, out.events, out.scaling = run.samples, run.events, run.scaling
        except Exception as exc:
            out.error = failure(exc, running=True)
    out.wall_s, out.cpu_s = time.perf_counter() - start, time.thread_time() - cpu
    return out


# -- the child processes ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CpuBudget:
    """The CPU seconds a seed's process may use (each process of it, in the hardened mode), enforced by the kernel
    (RLIMIT_CPU: SIGXCPU at the limit, SIGKILL a second later), so that a candidate's deadline does not move with
    the machine's load; ``basis`` says where the figure came from, for the error of a seed that uses it up."""

    seconds: float
    basis: str = ""

    def scaled(self, factor: float, why: str) -> CpuBudget:
        return CpuBudget(self.seconds * factor, f"{self.basis}, x{factor:g} {why}" if self.basis else why)


@dataclass(frozen=True)
class Limits:
    timeout_s: float               # the wall-clock cap per seed (behind the CPU budget, when there is one)
    memory_mb: int | None
    cpu: CpuBudget | None = None   # None: the kernel's CPU limit is only a backstop, 5 s past the wall cap


def policy_box(limits: Limits) -> confine.Box:
    """Where policy code (and the simulator beside it) may be: reads of the Python installation and the simulator's
    source but not its traces; no writes, no processes; memory, CPU seconds and open files capped."""
    cpu_s = limits.cpu.seconds if limits.cpu else limits.timeout_s + 5 if limits.timeout_s else None
    return confine.Box(profile="policy", read=[*confine.python_roots(), SIMULATOR_DIR], hide=[DATA_DIR], write=[],
                       memory_mb=limits.memory_mb, cpu_s=cpu_s, file_mb=0, open_files=64, processes=None)


def _confine(limits: Limits, iso: confine.Isolation, policy_files: list[str]) -> str:
    """Confine this process and, for policy code, install the audit hook; the mechanisms applied."""
    box = policy_box(limits)
    sys.dont_write_bytecode = True
    applied = confine.apply(box, iso)
    guard.prepare_facades()
    guard.install_audit_hook(policy_files, box.read, box.hide)
    return "+".join(m for m in confine.MECHANISMS if m in applied) or "none"


def _files(srcs: dict[str, PolicySource]) -> list[str]:
    return [s.path for s in srcs.values() if not s.builtin]


def _layers(srcs: dict[str, PolicySource]) -> dict[str, type]:
    """The classes of the batch policy and the autoscaler, loaded (checked, in their restricted namespaces) from the
    sources read before the process was confined."""
    return {layer: load_policy(s) for layer, s in srcs.items() if layer != "router"}


def _frames(fd: int) -> socket.socket:
    return socket.socket(fileno=fd)


def normal_child(fd: int, config: SimulationConfig, srcs: dict[str, PolicySource], seed: int, limits: Limits,
                 iso: confine.Isolation, fast: bool) -> None:
    """A seed in the normal mode (forked from the clean server, ``zygote.py``): the workload, then confinement and
    its report, then, once the parent said ``go``, the policy and the simulation; the records go back as frames."""
    interrupt.shield_child()
    conn = _frames(fd)
    run, err, sim = None, None, None
    try:
        workload = config.workload.generate(seed)
        wire.send_frame(conn, json.dumps({"isolation": _confine(limits, iso, _files(srcs))}).encode())
        if wire.recv_frame(conn, 16) != b"go":  # the parent found the confinement insufficient
            return
        _seed_generators(seed)
        sim = Simulation(config, load_policy(srcs["router"]), seed, fast=fast, workload=workload,
                         layers=_layers(srcs))
        run = sim.run()
    except BaseException as exc:  # noqa: BLE001 - every failure becomes the seed's error
        err = failure(exc, running=sim is not None) if isinstance(exc, Exception) else error(
            "crashed", f"the seed process stopped with {type(exc).__name__}")
    _send(conn, seed, run, err, limits)


def _send(conn: socket.socket, seed: int, run: RunResult | None, err: dict | None, limits: Limits) -> None:
    for stream in (sys.stdout, sys.stderr):  # what the policy printed reaches the parent before the records
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a policy may have replaced or closed the stream
            pass
    try:
        data = wire.encode(seed, run, err, 0.0)
    except MemoryError:
        data = wire.encode(seed, None, error("memory", f"exceeded the {limits.memory_mb} MB memory cap"), 0)
    try:
        wire.send_frame(conn, data)
    except OSError:
        pass
    conn.close()


def trusted_child(fd: int, peer_fd: int, config: SimulationConfig, srcs: dict[str, PolicySource], seed: int,
                  limits: Limits, iso: confine.Isolation, fast: bool) -> None:
    """The hardened mode's simulator: no policy code in this process; the policies of every layer that is not a
    built-in answer over ``peer``."""
    interrupt.shield_child()
    conn, peer = _frames(fd), Connection(peer_fd)
    run, err, sim = None, None, None
    try:
        workload = config.workload.generate(seed)
        mine = _confine(limits, iso, [])
        first = peer.recv_bytes(4096)  # sent by the policy process before any policy code ran
        theirs = json.loads(first).get("isolation", "none") if first.startswith(b"{") else "none"
        wire.send_frame(conn, json.dumps({"isolation": str(theirs)[:100], "simulator": mine}).encode())
        if wire.recv_frame(conn, 16) != b"go":
            return
        peer.send("go")
        link = hardened.Link(peer, {layer for layer, s in srcs.items() if not s.builtin}, config, seed)
        router = hardened.remote_policy(link) if "router" in link.layers else load_policy(srcs["router"])
        sim = Simulation(config, router, seed, fast=fast, workload=workload, layers=link.remote_layers())
        run = sim.run()
    except BaseException as exc:  # noqa: BLE001
        err = failure(exc, running=sim is not None) if isinstance(exc, Exception) else error(
            "crashed", f"the seed process stopped with {type(exc).__name__}")
    hardened.end(peer)
    _send(conn, seed, run, err, limits)


def policy_child(peer_fd: int, srcs: dict[str, PolicySource], seed: int, limits: Limits,
                 iso: confine.Isolation) -> None:
    """The hardened mode's policy process: confined, then serving the policies' calls."""
    interrupt.shield_child()
    peer = Connection(peer_fd)
    peer.send_bytes(json.dumps({"isolation": _confine(limits, iso, _files(srcs))}).encode())
    if peer.recv() != "go":  # sent once the parent accepted this process's confinement
        return
    _seed_generators(seed)
    hardened.serve_policy(peer, {layer: s for layer, s in srcs.items() if not s.builtin})


def served_policy_child(peer_fd: int, srcs: dict[str, PolicySource], limits: Limits,
                        iso: confine.Isolation) -> None:
    """A policy served to a live router (``glia route``): confined as a seed's policy process, answering the
    router's calls for as long as it runs; a failing call is answered with its error and the next one is served."""
    interrupt.shield_child()
    peer = Connection(peer_fd)
    peer.send_bytes(json.dumps({"isolation": _confine(limits, iso, _files(srcs))}).encode())
    if peer.recv() != "go":
        return
    _seed_generators(0)
    hardened.serve_policy(peer, {layer: s for layer, s in srcs.items() if not s.builtin}, keep_going=True)


# -- the parent ------------------------------------------------------------------------------------------------------
OUTPUT_BYTES = 16_384   # of a seed process's output kept (the rest is counted)
OUTPUT_SHOWN = 2_000    # characters of it quoted in an error


def shown_output(data: bytes, dropped: int = 0, limit: int = OUTPUT_SHOWN) -> str:
    """What a process that ran model-written code printed, as inert text: control characters (terminal escapes,
    carriage returns) written out as ``\x1b``, never passed to a terminal."""
    text = data.decode("utf-8", errors="replace")
    out = "".join(c if c.isprintable() or c == "\n" else repr(c)[1:-1] for c in text)
    if len(out) > limit:
        out = out[:limit] + f"... ({len(out) - limit} more characters)"
    if dropped:
        out += f"\n... ({dropped} more bytes not kept)"
    return out


@dataclass
class _Job:
    seed: int
    children: list
    inbox: wire.Inbox
    started: float
    limit: int
    workload: object = None
    isolation: str | None = None
    stopped: bool = False

    def pump_output(self) -> None:
        for c in self.children:
            c.read_output(OUTPUT_BYTES)

    def output(self) -> str:
        data = b"".join(bytes(c.output) for c in self.children)
        return shown_output(data, sum(c.output_dropped for c in self.children)) if data else ""


_WORKLOADS: dict[tuple[str, int], object] = {}  # (workload spec, seed) -> its requests, as the parent made them
_WORKLOADS_KEPT = 64
_WORKLOADS_LOCK = threading.Lock()


def _workload(config: SimulationConfig, seed: int):
    """The requests of ``seed``, generated by this process (a search runs the same seeds again and again: kept, and
    read-only, so that nothing that checks records against them can change them)."""
    key = (json.dumps(config.workload.to_dict(), sort_keys=True, default=str), seed)
    with _WORKLOADS_LOCK:
        workload = _WORKLOADS.pop(key, None)
    if workload is None:
        workload = config.workload.generate(seed)
        for value in vars(workload).values():
            if isinstance(value, np.ndarray):
                value.flags.writeable = False
    with _WORKLOADS_LOCK:
        _WORKLOADS[key] = workload  # the most recent last
        while len(_WORKLOADS) > _WORKLOADS_KEPT:
            _WORKLOADS.pop(next(iter(_WORKLOADS)))
    return workload


def _start(config: SimulationConfig, srcs: dict[str, PolicySource], seed: int, limits: Limits,
           iso: confine.Isolation, fast: bool, hardened_mode: bool) -> _Job:
    # the parent knows the workload independently of the seed process: it bounds the records' size
    workload = _workload(config, seed)
    n = len(workload) if not isinstance(workload, ClosedLoop) else None
    mine, theirs = socket.socketpair()
    try:
        if hardened_mode:
            a, b = socket.socketpair()
            try:
                children = [zygote.spawn("trusted", (config, srcs, seed, limits, iso, fast),
                                         [theirs.fileno(), a.fileno()]),
                            zygote.spawn("policy", (srcs, seed, limits, iso), [b.fileno()])]
            finally:
                a.close()
                b.close()
        else:
            children = [zygote.spawn("normal", (config, srcs, seed, limits, iso, fast), [theirs.fileno()])]
    except BaseException:
        mine.close()
        raise
    finally:
        theirs.close()
    interrupt.track(children)
    return _Job(seed, children, wire.Inbox(mine), time.monotonic(), wire.max_bytes(n), workload)


def _kill(job: _Job) -> None:
    for c in job.children:
        c.kill()


def _stop(job: _Job) -> None:
    """Kill the seed's processes and wait for their status (and so the CPU they used); close what it held (once)."""
    if job.stopped:
        return
    job.stopped = True
    _kill(job)
    for c in job.children:
        c.join(5)
        c.read_output(OUTPUT_BYTES)
        c.close()
    interrupt.untrack(job.children)
    job.inbox.close()


def _with_output(out: SeedOutcome, job: _Job) -> SeedOutcome:
    """The seed's output kept as data, quoted after its error's message when it failed; the CPU its processes used."""
    out.output = job.output()
    if out.cpu_s is None:
        out.cpu_s = _cpu(job)
    if out.error and out.output and out.error.get("kind") != "skipped":
        out.error = {**out.error, "message": out.error["message"] + "\n[what the seed process printed, as text]\n"
                     + out.output}
    return out


def _cpu(job: _Job) -> float | None:
    """The CPU seconds the seed's processes used, once all are reaped (None while one is not)."""
    used = [c.cpu_s for c in job.children]
    return None if any(u is None for u in used) else sum(used)


def _finish(config: SimulationConfig, job: _Job, data: bytes, limits: Limits, wall: float,
            replay: bool = False) -> SeedOutcome:
    out = SeedOutcome(job.seed, wall_s=wall, isolation=job.isolation or "")
    try:
        run, err, _ = wire.decode(data, job.seed)
    except wire.WireError as exc:
        out.error = error("tampered_records", f"seed {job.seed}: the seed process sent malformed records ({exc})")
        return out
    if err is not None:
        if err["kind"] == "policy_process_died":
            job.children[-1].join(5)
            err = _death(job.children[-1], limits, job.seed, wall)
        out.error = err
        return out
    try:
        out.summary, out.requests = verify.measure(config, job.seed, run, workload=job.workload)
    except verify.TamperedRecords as exc:
        out.error = error(exc.kind, f"seed {job.seed}: the records fail the harness's checks: {exc}")
        return out
    out.samples, out.events, out.scaling = run.samples, run.events, run.scaling
    if replay:
        used = sorted(set(run.requests["replica_id"].tolist()))
        if used:
            k = used[secrets.randbelow(len(used))]
            why = verify.replay_replica(config, run, k)
            out.replayed = f"replica {k}: " + (why or "reproduced")
    return out


def _confirm_replays(config: SimulationConfig, srcs: dict[str, PolicySource], results: dict[int, SeedOutcome],
                     limits: Limits, allow_unconfined: bool) -> None:
    """A seed whose replayed replica differs from its records is run again hardened (the policy in a process of its
    own, which never holds the simulator or the records): the same figures mean the difference came from an exact
    tie of two events (the replay orders them by rule), others mean the records were forged."""
    for seed, out in results.items():
        if out.error is not None or not out.replayed or out.replayed.endswith(": reproduced"):
            continue
        [hard] = run_seeds(config, srcs["router"], [seed], timeout_s=limits.timeout_s * 4,
                           memory_mb=limits.memory_mb, hardened=True, allow_unconfined=allow_unconfined,
                           cpu=limits.cpu.scaled(4, "for the hardened mode") if limits.cpu else None)
        claimed = out.summary or {}
        differs = [m for m, v in claimed.items() if hard.summary is None or not _same(v, hard.summary.get(m))]
        if hard.error is None and not differs:
            out.replayed += "; run again hardened, the seed gives the same figures"
            continue
        measured = (f"run again with the policy in a process of its own, it gives mean e2e "
                    f"{hard.summary['mean_e2e_s']:.4f} s against the {claimed.get('mean_e2e_s', math.nan):.4f} s "
                    "its records claim" if hard.error is None else
                    f"run again with the policy in a process of its own, it fails ({hard.error['kind']})")
        out.error = error("tampered_records", f"seed {seed}: the records fail the harness's checks: "
                          f"{out.replayed.split(': ', 1)[1]}; {measured}")
        out.summary = out.requests = None


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is b
    a, b = float(a), float(b)
    return (math.isnan(a) and math.isnan(b)) or a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b))


def run_seeds(config: SimulationConfig, policy: str | PolicySource, seeds: list[int], jobs: int | None = None,
              timeout_s: float = 300.0, memory_mb: int | None = 4096, isolate: bool = True, fast: bool = True,
              hardened: bool = False, allow_unconfined: bool = False, fail_fast: bool = False,
              cpu: CpuBudget | None = None) -> list[SeedOutcome]:
    """Run every seed, ``jobs`` at a time, each in its own confined process (``isolate``; in the hardened mode two:
    the simulator and the policy) under the limits: ``cpu``, the CPU seconds each process may use (the kernel stops
    it there, whatever the machine's load), with the wall-clock cap ``timeout_s`` behind it (for a process that
    waits rather than computes; without ``cpu`` the only deadline). A policy file needs filesystem and network
    confinement unless ``allow_unconfined`` (or GLIA_ALLOW_UNCONFINED=1); built-in policies are trusted.
    ``fail_fast``: once a seed fails, the seeds still running are killed and those not started are not run (both
    come back ``skipped``). ``policy`` may be a ``PolicySource`` (bytes read, and hashed, by the caller): the code
    measured is then exactly those bytes, whatever the file holds now."""
    try:
        srcs = stack_sources(config, policy)
    except PolicyLoadError as exc:
        return [SeedOutcome(s, error=error("load_error", str(exc))) for s in seeds]
    trusted = all(s.builtin for s in srcs.values())  # built-ins of every layer
    iso = confine.available()
    if not trusted and not confine.unconfined_allowed(allow_unconfined) and (
            not isolate or not iso.confined("policy")):
        why = confine.refusal(iso) if isolate else (
            "a policy file runs in this process only when unconfined runs are allowed (--allow-unconfined or "
            f"{confine.ALLOW_ENV}=1); run it isolated instead")
        return [SeedOutcome(s, error=error("unconfined", why)) for s in seeds]
    if not isolate:
        out: list[SeedOutcome] = []
        for s in seeds:
            failed = next((o for o in out if o.error), None) if fail_fast else None
            out.append(skipped(s, failed) if failed else simulate_seed(config, srcs["router"], s, fast))
        return out
    limits = Limits(timeout_s, memory_mb, cpu)
    # records from a process that ran policy code are bounded from above by replaying one replica of one seed,
    # both chosen at random once the records are in (the policy cannot know which)
    replay_seed = seeds[secrets.randbelow(len(seeds))] if (
        seeds and not trusted and not hardened and verify.replayable(config)) else None
    # a hardened seed waits on its pipe most of the time: twice as many at once use the cores better
    jobs = max(1, min(jobs or (os.cpu_count() or 1) * (2 if hardened else 1), len(seeds)))
    todo = list(seeds)
    running: dict[int, _Job] = {}  # seed -> job
    results: dict[int, SeedOutcome] = {}
    received: list[tuple[_Job, bytes, float]] = []

    def done(job: _Job, out: SeedOutcome) -> None:
        _stop(job)
        results[job.seed] = _with_output(out, job)
        running.pop(job.seed, None)

    try:
        while todo or running or received:
            _stop_if_interrupted(running)
            while todo and len(running) < jobs:
                seed = todo.pop(0)
                try:
                    running[seed] = _start(config, srcs, seed, limits, iso, fast, hardened)
                except zygote.ZygoteError as exc:
                    results[seed] = SeedOutcome(seed, error=error("internal", str(exc)))
            # records received are checked and measured while the next seeds already run
            for job, data, wall in received:
                _stop(job)  # done when its records came (a no-op then); here for any path that only killed it
                results[job.seed] = _with_output(_finish(config, job, data, limits, wall,
                                                         replay=job.seed == replay_seed), job)
            received.clear()
            if not running:
                break
            deadline = min(j.started + timeout_s for j in running.values())
            watched = [j.inbox for j in running.values()] + [c.out_r for j in running.values() for c in j.children
                                                              if c.out_r >= 0]
            zygote.wait_any(watched, max(0.0, min(deadline - time.monotonic(), 1.0)))
            _stop_if_interrupted(running)  # seeds killed by the user's stop are not failures
            for job in list(running.values()):
                job.pump_output()
                limit = wire.FIRST_MESSAGE_BYTES if job.isolation is None else job.limit
                job.inbox.pump(limit)
                if job.inbox.too_big is not None:
                    done(job, SeedOutcome(job.seed, isolation=job.isolation or "", wall_s=time.monotonic() -
                                          job.started, error=error("tampered_records", (
                                              f"seed {job.seed}: the seed process sent a message of "
                                              f"{job.inbox.too_big} bytes, more than the {limit} this workload's "
                                              "records can take; nothing of it was read"))))
                    continue
                while job.inbox.frames and job.seed in running:
                    data = job.inbox.frames.pop(0)
                    if job.isolation is None:  # the first message, sent before any policy code ran
                        job.isolation = _isolation(data)
                        if trusted or confine.unconfined_allowed(allow_unconfined) or _enough(job.isolation):
                            job.inbox.send(b"go")  # the seed process waits for it before any policy code runs
                            limit = job.limit
                            job.inbox.pump(limit)
                            continue
                        done(job, SeedOutcome(job.seed, isolation=job.isolation, error=error(
                            "unconfined", f"seed {job.seed}: the seed process could confine itself only with "
                            f"{job.isolation}, which leaves its filesystem or network open; it was stopped before the "
                            "policy ran")))
                    elif wire.holds_error(data):  # cheap, and a failure must stop the others at once (fail_fast)
                        wall = time.monotonic() - job.started
                        _stop(job)
                        results[job.seed] = _with_output(_finish(config, job, data, limits, wall), job)
                        running.pop(job.seed, None)
                    else:
                        wall = time.monotonic() - job.started
                        # killed and reaped before anything else (as before the CPU accounting): its CPU is then
                        # known, and no seed process outlives its records while the next one starts (a process
                        # server that cannot fork, stopped or loaded, must not leave a seed running meanwhile)
                        _stop(job)
                        running.pop(job.seed, None)
                        received.append((job, data, wall))
                if job.seed in running and job.inbox.eof:
                    wall = time.monotonic() - job.started
                    job.children[0].join(5)
                    dead = next((c for c in job.children if c.exitcode not in (None, 0)), job.children[0])
                    done(job, SeedOutcome(job.seed, error=_death(dead, limits, job.seed, wall), wall_s=wall,
                                          isolation=job.isolation or ""))
            now = time.monotonic()
            for job in list(running.values()):
                if now - job.started >= timeout_s:
                    _stop(job)
                    running.pop(job.seed)
                    results[job.seed] = _with_output(SeedOutcome(
                        job.seed, error=_past_wall_cap(job, limits), wall_s=now - job.started,
                        isolation=job.isolation or ""), job)
            first = next((results[s] for s in seeds if s in results and results[s].error), None)
            if fail_fast and first is not None:
                for job in list(running.values()):
                    _stop(job)
                    results[job.seed] = skipped(job.seed, first)
                running.clear()
                for seed in todo:
                    results[seed] = skipped(seed, first)
                todo.clear()
    finally:  # an exception here (KeyboardInterrupt) leaves no seed process behind
        for job in [*running.values(), *(job for job, _, _ in received)]:
            _stop(job)
    if replay_seed is not None:
        _confirm_replays(config, srcs, results, limits, allow_unconfined)
    return [results[s] for s in seeds]


def stop_all() -> int:
    """Kill every seed and policy process this process started (the parent's hook on Ctrl-C: they run in sessions
    of their own, so the terminal's signals never reach them); how many were running."""
    return zygote.stop_all()


def start_server() -> None:
    """Start the seed processes' server now (a command whose work runs in another thread calls this first; see
    ``graph/stopping.py``). It runs in a session of its own, as every process it forks does, so the terminal's
    Ctrl-C reaches none of them; each also ignores SIGINT (``interrupt.shield_child``)."""
    zygote.start()


def _stop_if_interrupted(running: dict) -> None:
    """The user stopped the run (``interrupt.request`` killed the seed processes): stop what runs, record nothing."""
    if interrupt.requested():
        for job in running.values():
            _stop(job)
        running.clear()
        raise interrupt.Interrupted()


def skipped(seed: int, cause: SeedOutcome) -> SeedOutcome:
    """A seed not run (or stopped) because another seed of the same candidate failed first."""
    return SeedOutcome(seed, error=error("skipped", f"not run: seed {cause.seed} failed first "
                                                    f"({cause.error['kind']})"))


def _enough(isolation: str) -> bool:
    """Whether the mechanisms a seed process applied confine both its filesystem and its network."""
    got = set(isolation.split("+"))
    return "landlock" in got and bool({"userns", "seccomp"} & got)


def _isolation(data: bytes) -> str:
    try:
        return str(json.loads(data).get("isolation", "none"))[:100]
    except (ValueError, AttributeError):
        return "unknown"


def out_of_cpu(seed: int, budget: CpuBudget, used: float, wall: float) -> dict:
    """The error of a seed stopped at its CPU budget."""
    basis = f" ({budget.basis})" if budget.basis else ""
    return error("timeout", f"seed {seed} used its CPU budget of {math.ceil(budget.seconds):g} s per seed{basis} "
                 f"and was stopped by the kernel ({used:.1f} s of CPU in {wall:.1f} s of wall time, load average "
                 f"{os.getloadavg()[0]:.1f})")


def _death(child: zygote.Child, limits: Limits, seed: int, wall: float) -> dict:
    """Why a seed's process ended without its records: its CPU budget used up (SIGXCPU at the limit, or SIGKILL at
    the hard limit a second later for a process that caught SIGXCPU), or how it died. The CPU the kernel reports
    for the process (its rusage) can read up to a fifth below the limit it enforced, on a loaded virtual machine."""
    code, used = child.exitcode, child.cpu_s
    if limits.cpu is not None and used is not None and (code == -signal.SIGXCPU or (
            code == -signal.SIGKILL and used >= 0.8 * math.ceil(limits.cpu.seconds))):
        return out_of_cpu(seed, limits.cpu, used, wall)
    return _died(code, limits.memory_mb)


def _past_wall_cap(job: _Job, limits: Limits) -> dict:
    """The error of a seed killed at the wall-clock cap (its processes stopped, so their CPU is known): with a CPU
    budget, a process that waited rather than computed, or a machine so loaded that the cap came first."""
    msg = f"seed {job.seed} did not finish within {limits.timeout_s:g} s of wall time (killed)"
    used = [c.cpu_s for c in job.children]
    if limits.cpu is not None and None not in used:
        who = "it" if len(used) == 1 else "the busiest of its processes"
        msg += (f"; {who} had used {max(used):.1f} s of CPU, under its budget of {math.ceil(limits.cpu.seconds):g} "
                f"s, load average {os.getloadavg()[0]:.1f}")
    return error("timeout", msg)


def _died(exitcode: int | None, memory_mb: int | None) -> dict:
    if exitcode is not None and exitcode < 0:
        sig = -exitcode
        hint = (f" (likely the {memory_mb} MB memory cap)" if sig in (6, 9) and memory_mb else
                " (the CPU-time limit)" if sig == 24 else " (the policy tried to write a file)" if sig == 25 else "")
        return error("crashed", f"the simulation process was killed by signal {sig}{hint}")
    return error("crashed", f"the simulation process exited with code {exitcode} without a result")


# -- a policy served to a live system (glia route) ----------------------------------------------------------------
class WorkerError(Exception):
    """The served policy's process failed (``kind``: died, timeout, unconfined, load_error, ...)."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


SERVED_MEMORY_MB = 2048


class PolicyWorker:
    """A policy file served from a confined process of its own, as a hardened seed's policy process is: forked from
    the clean server, confined (no writes, no network, no processes, reads of the Python installation only), the
    audit hook installed, the file's bytes read by this process before anything ran. ``ask`` sends one message
    (``hardened``'s protocol: views of what changed, the call) and returns the JSON reply; a call that takes longer
    than ``call_timeout_s`` kills the process. What it prints is kept as data (``take_output``)."""

    def __init__(self, srcs: dict[str, PolicySource], memory_mb: int | None = SERVED_MEMORY_MB,
                 call_timeout_s: float = 2.0, allow_unconfined: bool = False, start_timeout_s: float = 60.0):
        self.call_timeout_s = call_timeout_s
        iso = confine.available()
        if not iso.confined("policy") and not confine.unconfined_allowed(allow_unconfined):
            raise WorkerError("unconfined", confine.refusal(iso))
        # no CPU-seconds limit: the process lives as long as the router; each call has its wall-clock timeout
        limits = Limits(timeout_s=0.0, memory_mb=memory_mb)
        mine, theirs = socket.socketpair()
        try:
            self.child = zygote.spawn("served_policy", (srcs, limits, iso), [theirs.fileno()])
        finally:
            theirs.close()
        self.conn = Connection(mine.detach())
        self.isolation = "none"
        try:
            first = self._recv(start_timeout_s, wire.FIRST_MESSAGE_BYTES)
            self.isolation = _isolation(first)
            if not (_enough(self.isolation) or confine.unconfined_allowed(allow_unconfined)):
                raise WorkerError("unconfined", f"the policy process could confine itself only with {self.isolation}, "
                                  "which leaves its filesystem or network open; it was stopped before the policy ran")
            self.conn.send("go")
            self._reply(self._recv(start_timeout_s, wire.FIRST_MESSAGE_BYTES * 4))  # loaded, or why not
        except BaseException:
            self.close()
            raise

    def _recv(self, timeout: float, limit: int) -> bytes:
        """One message (``multiprocessing``'s framing), whole within ``timeout`` seconds and ``limit`` bytes: a
        process that sends half a message and stalls, or announces a huge one, is stopped, never waited for."""
        deadline = time.monotonic() + timeout
        (n,) = struct.unpack("!i", self._read(4, deadline, timeout))
        if n == -1:
            (n,) = struct.unpack("!Q", self._read(8, deadline, timeout))
        if n > limit:
            self.close()
            raise WorkerError("bad_return", f"the policy process sent a message of {n} bytes, more than the {limit} "
                              "a reply may take (stopped)")
        return self._read(n, deadline, timeout)

    def _read(self, n: int, deadline: float, timeout: float) -> bytes:
        buf = bytearray()
        fd = self.conn.fileno()
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0 or not zygote.wait_any([fd], left):
                self.close()
                raise WorkerError("timeout", f"the policy process did not answer within {timeout:g} s (killed)")
            try:
                chunk = os.read(fd, min(n - len(buf), 1 << 20))
            except OSError:
                chunk = b""
            if not chunk:
                self.child.join(2)
                raise WorkerError("died", _died(self.child.exitcode, SERVED_MEMORY_MB)["message"])
            buf += chunk
        return bytes(buf)

    @staticmethod
    def _reply(data: bytes) -> dict:
        return hardened.parse_reply(data)

    def ask(self, msg: tuple) -> dict:
        """Send ``msg`` and return the reply; ``PolicyViolation`` for the policy's own error (the process goes on),
        ``WorkerError`` when the process is gone or too slow (it is then stopped)."""
        try:
            self.conn.send(msg)
        except (OSError, ValueError):
            self.child.join(2)
            raise WorkerError("died", _died(self.child.exitcode, SERVED_MEMORY_MB)["message"]) from None
        return self._reply(self._recv(self.call_timeout_s, hardened.MAX_REPLY))

    def take_output(self) -> str:
        """What the process printed since the last call, as inert text."""
        self.child.read_output(OUTPUT_BYTES)
        data, dropped = bytes(self.child.output), self.child.output_dropped
        self.child.output.clear()
        self.child.output_dropped = 0
        return shown_output(data, dropped) if data else ""

    def close(self) -> None:
        try:
            self.conn.send(("end",))
        except (OSError, ValueError):
            pass
        self.child.join(0.5)
        self.child.kill()
        self.child.join(2)
        self.conn.close()
        self.child.close()
