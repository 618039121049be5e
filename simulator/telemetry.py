"""The telemetry database: every run's figures and raw data in one DuckDB file per workspace, for SQL analysis.

Tables (one row per ...):
  runs               benchmark run: run_id, policy (the router), policy_hash (of every policy file of the stack),
                     workload, seeds, context, created_at, wall_s, error_kind, error_message, config (JSON),
                     mean_e2e_s, mean_e2e_ci_low, mean_e2e_ci_high, p90_e2e_s, mean_ttft_s, p90_ttft_s,
                     restart_fraction, throughput_rps, gpu_hours, batch_policy, autoscaler (the other layers of the
                     stack; autoscaler NULL for a fixed cluster), ci90 (JSON: metric -> [low, high], the 90 % CI of
                     each summary metric), program and benchmark (digests of what was measured, when the
                     caller gave them: an evaluation is read back only for the same program on the same benchmark)
  run_seeds          seed of a run: run_id, seed, wall_s, error_kind, error_message, and every per-run metric
  requests           request of a seed: times (arrived_at, routed_at, scheduled_at, first_token_at, completed_at),
                     lengths, replica_id, num_restarts, wasted_tokens, e2e_s, ttft_s, tpot_s, queueing_s,
                     isolated_s, slowdown
  replica_samples    replica every sample interval: t, replica_id, num_pending, num_active, allocated_blocks,
                     num_blocks, global_queue
  scheduling_events  event: t, kind (route, admit, preempt, complete, start, ready, drain, release), request_id,
                     replica_id, value (prompt tokens for route/admit, tokens lost for preempt, processed tokens
                     for complete)

Writers serialise on a lock file, so parallel design contexts can share one database; readers open it read-only.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import queue
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import duckdb
import numpy as np

from .metrics import RUN_METRICS, clean

REQUEST_COLUMNS = ("request_id", "arrived_at", "num_prefill_tokens", "num_decode_tokens", "routed_at", "replica_id",
                   "scheduled_at", "first_token_at", "completed_at", "num_restarts", "wasted_tokens", "e2e_s",
                   "ttft_s", "tpot_s", "queueing_s", "isolated_s", "slowdown")

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY, policy VARCHAR, policy_hash VARCHAR, workload VARCHAR, seeds INTEGER,
    context VARCHAR, created_at TIMESTAMP, wall_s DOUBLE, error_kind VARCHAR, error_message VARCHAR,
    config VARCHAR, mean_e2e_s DOUBLE, mean_e2e_ci_low DOUBLE, mean_e2e_ci_high DOUBLE, p90_e2e_s DOUBLE,
    mean_ttft_s DOUBLE, p90_ttft_s DOUBLE, restart_fraction DOUBLE, throughput_rps DOUBLE, gpu_hours DOUBLE,
    batch_policy VARCHAR, autoscaler VARCHAR, ci90 VARCHAR, program VARCHAR, benchmark VARCHAR);
CREATE TABLE IF NOT EXISTS run_seeds (
    run_id VARCHAR, seed INTEGER, wall_s DOUBLE, error_kind VARCHAR, error_message VARCHAR,
    {", ".join(f"{m} DOUBLE" for m in RUN_METRICS)});
CREATE TABLE IF NOT EXISTS requests (
    run_id VARCHAR, seed INTEGER, request_id BIGINT, arrived_at DOUBLE, num_prefill_tokens BIGINT,
    num_decode_tokens BIGINT, routed_at DOUBLE, replica_id INTEGER, scheduled_at DOUBLE, first_token_at DOUBLE,
    completed_at DOUBLE, num_restarts INTEGER, wasted_tokens BIGINT, e2e_s DOUBLE, ttft_s DOUBLE, tpot_s DOUBLE,
    queueing_s DOUBLE, isolated_s DOUBLE, slowdown DOUBLE);
CREATE TABLE IF NOT EXISTS replica_samples (
    run_id VARCHAR, seed INTEGER, t DOUBLE, replica_id INTEGER, num_pending INTEGER, num_active INTEGER,
    allocated_blocks INTEGER, num_blocks INTEGER, global_queue INTEGER);
CREATE TABLE IF NOT EXISTS scheduling_events (
    run_id VARCHAR, seed INTEGER, t DOUBLE, kind VARCHAR, request_id BIGINT, replica_id INTEGER, value BIGINT);
"""


SEED_COLUMNS = ("run_id", "seed", "wall_s", "error_kind", "error_message", *RUN_METRICS)


def _migrate(con: duckdb.DuckDBPyConnection) -> None:
    """Add the columns a database written by an older version lacks (metrics added since, the stack's layers)."""
    for m in RUN_METRICS:
        con.execute(f"ALTER TABLE run_seeds ADD COLUMN IF NOT EXISTS {m} DOUBLE")
    for c in ("batch_policy", "autoscaler", "ci90", "program", "benchmark"):
        con.execute(f"ALTER TABLE runs ADD COLUMN IF NOT EXISTS {c} VARCHAR")


@contextmanager
def _locked(path: Path, shared: bool = False):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(str(path) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _connect_rw(path: Path, attempts: int = 50) -> duckdb.DuckDBPyConnection:
    """Open for writing; another process (a reader) may hold the file briefly, so retry for a few seconds."""
    for i in range(attempts):
        try:
            return duckdb.connect(str(path))
        except duckdb.IOException:
            if i == attempts - 1:
                raise
            time.sleep(0.1)
    raise AssertionError("unreachable")


class _Background:
    """One thread that writes runs in the order they were handed over, so that recording a run overlaps with what
    comes next (the next simulation, a model call); ``flush`` waits until everything handed over is written."""

    def __init__(self):
        self.jobs: queue.Queue = queue.Queue()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._work, daemon=True, name="glia-telemetry")
        self.thread.start()
        atexit.register(flush)

    def _work(self) -> None:
        while True:
            fn, args = self.jobs.get()
            try:
                fn(*args)
            except BaseException as exc:  # reported by the next flush, in the thread that waits
                self.errors.append(exc)
            finally:
                self.jobs.task_done()


_BACKGROUND: _Background | None = None
_BACKGROUND_LOCK = threading.Lock()


def write_run_later(path: str | Path, run: dict, seeds: list) -> None:
    """``write_run`` on the background writer; any read or write of telemetry in this process waits for it first."""
    global _BACKGROUND
    with _BACKGROUND_LOCK:
        if _BACKGROUND is None:
            _BACKGROUND = _Background()
    _BACKGROUND.jobs.put((write_run, (path, run, seeds)))


def flush() -> None:
    """Wait until every run handed to the background writer is written; raise the first failure among them."""
    bg = _BACKGROUND
    if bg is None or threading.current_thread() is bg.thread:
        return
    bg.jobs.join()
    if bg.errors:
        error = bg.errors.pop(0)
        bg.errors.clear()
        raise error


@contextmanager
def writing(path: str | Path):
    """A read-write connection with the schema in place, held under the writers' lock (others wait); in this
    process, after the runs the background writer holds."""
    flush()
    path = Path(path)
    with _locked(path):
        con = _connect_rw(path)
        try:
            con.execute(SCHEMA)
            _migrate(con)
            yield con
        finally:
            con.close()


def write_run(path: str | Path, run: dict, seeds: list) -> None:
    """Store one benchmark run (``run``: the runs row) and its seeds' outcomes (``SeedOutcome``)."""
    with writing(path) as con:
        con.execute("BEGIN")
        cols = list(run)
        con.execute(f"INSERT INTO runs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                    [run[c] for c in cols])
        rid = run["run_id"]
        for o in seeds:
            s = o.summary or {}
            err = o.error or {}
            con.execute(f"INSERT INTO run_seeds ({', '.join(SEED_COLUMNS)}) "
                        f"VALUES ({', '.join('?' * len(SEED_COLUMNS))})",
                        [rid, o.seed, o.wall_s, err.get("kind"), err.get("message")]
                        + [clean(s.get(m), None) for m in RUN_METRICS])
            if o.requests is not None and len(o.requests["request_id"]):
                n = len(o.requests["request_id"])
                frame = {"run_id": np.full(n, rid, dtype=object), "seed": np.full(n, o.seed)}
                frame.update({c: o.requests[c] for c in REQUEST_COLUMNS})
                insert_frame(con, "requests", frame)
            if o.samples:
                _insert_rows(con, "replica_samples", rid, o.seed, o.samples,
                             ("t", "replica_id", "num_pending", "num_active", "allocated_blocks", "num_blocks",
                              "global_queue"))
            events = list(o.events) + [(t, kind, -1, rep, 0) for t, kind, rep in o.scaling]
            if events:
                _insert_rows(con, "scheduling_events", rid, o.seed, events,
                             ("t", "kind", "request_id", "replica_id", "value"))
        con.execute("COMMIT")


def insert_frame(con: duckdb.DuckDBPyConnection, table: str, frame: dict) -> None:
    """Append the columns of ``frame`` (name -> array, all of one length) to ``table``."""
    con.register("_frame", frame)
    con.execute(f"INSERT INTO {table} ({', '.join(frame)}) SELECT * FROM _frame")
    con.unregister("_frame")


def _insert_rows(con, table: str, run_id: str, seed: int, rows: list[tuple], names: tuple[str, ...]) -> None:
    n = len(rows)
    frame = {"run_id": np.full(n, run_id, dtype=object), "seed": np.full(n, seed)}
    for name, col in zip(names, zip(*rows, strict=True), strict=True):
        frame[name] = np.array(col, dtype=object if isinstance(col[0], str) else None)
    insert_frame(con, table, frame)


@contextmanager
def reading(path: str | Path, config: dict | None = None):
    """A read-only connection (writes raise a clear error), held while no writer is active; in this process, after
    the runs the background writer holds. ``config``: DuckDB settings for the connection."""
    flush()
    path = Path(path)
    with _locked(path, shared=True):
        con = duckdb.connect(str(path), read_only=True, config=config or {})
        try:
            yield con
        finally:
            con.close()


def config_json(config_dict: dict) -> str:
    return json.dumps(config_dict, sort_keys=True)


def append_rows(path: str | Path, table: str, create_sql: str, rows: list[dict],
                replace: dict | None = None) -> None:
    """Add ``rows`` (dicts with the same keys) to ``table``, created by ``create_sql`` if missing; rows matching
    ``replace`` (column -> value) are deleted first, so that writing a result again replaces it."""
    with writing(path) as con:
        con.execute(create_sql)
        con.execute("BEGIN")
        if replace:
            where = " AND ".join(f"{c} = ?" for c in replace)
            con.execute(f"DELETE FROM {table} WHERE {where}", list(replace.values()))
        if rows:
            cols = list(rows[0])
            con.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                            [[r[c] for c in cols] for r in rows])
        con.execute("COMMIT")
