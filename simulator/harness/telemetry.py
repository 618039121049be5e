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

  pruned_runs        run whose per-request rows ``glia gc`` dropped (its runs and run_seeds rows stay): run_id,
                     thread_id, pruned_at, requests, events, samples (the rows dropped); made by the first gc

Writers serialise on a lock file, so parallel design contexts can share one database; readers open it read-only.

Storage. Per-request rows are most of the file (a 20-simulation main job writes about 1.4 million requests and 4.5
million events), so ``requests`` and ``scheduling_events`` are views over compact tables (``_requests``,
``_scheduling_events``): times are integer microseconds, a request's later times are offsets from its arrival, and
the derived columns (e2e_s, ttft_s, tpot_s, queueing_s, slowdown) are computed by the view from those integers
instead of being stored. DuckDB bit-packs such integers (doubles of simulated time barely compress), which takes
the file from 8 bytes per stored double to a few bytes per time. Precision: every time is exact to +-0.5 us (a
duration to +-1 us), ``isolated_s`` is float32 (relative 6e-8); what a query reads is DOUBLE seconds as before. A
database written before this layout keeps its tables as ``_requests_v1`` / ``_scheduling_events_v1`` (renamed, not
rewritten), which the views read too; ``compact`` converts them. A run's rows are written as row groups of their own
(DuckDB's vacuum, which merged them into the groups before at every write, is off for runs: it was more than half
of a write's CPU): the file is about 8 % larger (20 five-seed paper-routing runs: 64 MB against 59 MB) until
``compact`` (``glia gc``) rewrites it into full groups.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import queue
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np

from glia.simulator.metrics import RUN_METRICS, clean
from glia.simulator.rows import coded_columns, columns

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
CREATE TABLE IF NOT EXISTS replica_samples (
    run_id VARCHAR, seed INTEGER, t DOUBLE, replica_id INTEGER, num_pending INTEGER, num_active INTEGER,
    allocated_blocks INTEGER, num_blocks INTEGER, global_queue INTEGER);
"""
# created by the first ``prune`` (a workspace that was never pruned does not show the table)
PRUNED_SCHEMA = """
CREATE TABLE IF NOT EXISTS pruned_runs (
    run_id VARCHAR PRIMARY KEY, thread_id VARCHAR, pruned_at TIMESTAMP, requests BIGINT, events BIGINT,
    samples BIGINT);
"""

# the compact tables behind the ``requests`` and ``scheduling_events`` views (see "Storage" above): a request's
# times as microseconds, the later ones after its arrival
COMPACT_SCHEMA = """
CREATE TABLE IF NOT EXISTS _requests (
    run_id VARCHAR, seed INTEGER, request_id BIGINT, arrived_us BIGINT, num_prefill_tokens BIGINT,
    num_decode_tokens BIGINT, routed_after_us BIGINT, replica_id INTEGER, scheduled_after_us BIGINT,
    first_token_after_us BIGINT, completed_after_us BIGINT, num_restarts INTEGER, wasted_tokens BIGINT,
    isolated_s FLOAT);
CREATE TABLE IF NOT EXISTS _scheduling_events (
    run_id VARCHAR, seed INTEGER, t_us BIGINT, kind VARCHAR, request_id BIGINT, replica_id INTEGER, value BIGINT);
"""


def _us(col: str) -> str:
    """SQL: seconds (DOUBLE; NULL or NaN: unknown) as integer microseconds."""
    return f"CAST(round(CASE WHEN isfinite({col}) THEN {col} END * 1e6) AS BIGINT)"


# what goes into the compact tables, from a frame in the views' columns
_STORE = {
    "requests": ("_requests", {
        "run_id": "run_id", "seed": "seed", "request_id": "request_id", "arrived_us": _us("arrived_at"),
        "num_prefill_tokens": "num_prefill_tokens", "num_decode_tokens": "num_decode_tokens",
        "routed_after_us": f"{_us('routed_at')} - {_us('arrived_at')}", "replica_id": "replica_id",
        "scheduled_after_us": f"{_us('scheduled_at')} - {_us('arrived_at')}",
        "first_token_after_us": f"{_us('first_token_at')} - {_us('arrived_at')}",
        "completed_after_us": f"{_us('completed_at')} - {_us('arrived_at')}", "num_restarts": "num_restarts",
        "wasted_tokens": "wasted_tokens", "isolated_s": "CAST(isolated_s AS FLOAT)"}),
    "scheduling_events": ("_scheduling_events", {
        "run_id": "run_id", "seed": "seed", "t_us": _us("t"), "kind": "kind", "request_id": "request_id",
        "replica_id": "replica_id", "value": "value"}),
}

# the views' columns, in the order and types the tables had before the compact layout
_VIEW_COLUMNS = {
    "requests": (
        ("run_id", "run_id"), ("seed", "seed"), ("request_id", "request_id"),
        ("arrived_at", "arrived_us / 1e6"), ("num_prefill_tokens", "num_prefill_tokens"),
        ("num_decode_tokens", "num_decode_tokens"), ("routed_at", "(arrived_us + routed_after_us) / 1e6"),
        ("replica_id", "replica_id"), ("scheduled_at", "(arrived_us + scheduled_after_us) / 1e6"),
        ("first_token_at", "(arrived_us + first_token_after_us) / 1e6"),
        ("completed_at", "(arrived_us + completed_after_us) / 1e6"), ("num_restarts", "num_restarts"),
        ("wasted_tokens", "wasted_tokens"), ("e2e_s", "completed_after_us / 1e6"),
        ("ttft_s", "first_token_after_us / 1e6"),
        ("tpot_s", "CASE WHEN num_decode_tokens > 1 THEN (completed_after_us - first_token_after_us) / 1e6 / "
                   "(num_decode_tokens - 1) END"),
        ("queueing_s", "scheduled_after_us / 1e6"), ("isolated_s", "CAST(isolated_s AS DOUBLE)"),
        ("slowdown", "completed_after_us / 1e6 / CAST(isolated_s AS DOUBLE)")),
    "scheduling_events": (
        ("run_id", "run_id"), ("seed", "seed"), ("t", "t_us / 1e6"), ("kind", "kind"), ("request_id", "request_id"),
        ("replica_id", "replica_id"), ("value", "value")),
}
_LEGACY = {"requests": "_requests_v1", "scheduling_events": "_scheduling_events_v1"}
# the tables holding per-request rows, which ``prune`` empties for a run (the serving tables when they exist)
# (and requests / scheduling_events: tables in a database not yet written by this layout)
ROW_TABLES = ("_requests", "_requests_v1", "requests", "_scheduling_events", "_scheduling_events_v1",
              "scheduling_events", "replica_samples", "served_requests", "backend_samples")


SEED_COLUMNS = ("run_id", "seed", "wall_s", "error_kind", "error_message", *RUN_METRICS)


def _migrate(con: duckdb.DuckDBPyConnection) -> None:
    """Add the columns a database written by an older version lacks (metrics added since, the stack's layers)."""
    for m in RUN_METRICS:
        con.execute(f"ALTER TABLE run_seeds ADD COLUMN IF NOT EXISTS {m} DOUBLE")
    for c in ("batch_policy", "autoscaler", "ci90", "program", "benchmark"):
        con.execute(f"ALTER TABLE runs ADD COLUMN IF NOT EXISTS {c} VARCHAR")
    con.execute(COMPACT_SCHEMA)
    kinds = dict(con.execute("SELECT table_name, table_type FROM information_schema.tables WHERE table_catalog = "
                             "current_database() AND table_schema = 'main'").fetchall())
    for view in _VIEW_COLUMNS:
        legacy = _LEGACY[view]
        if kinds.get(view) == "BASE TABLE":  # written before the compact layout: kept as it is, under another name
            con.execute(f"ALTER TABLE {view} RENAME TO {legacy}")
            kinds[legacy] = "BASE TABLE"
            kinds.pop(view)
        if view not in kinds or (legacy in kinds) != _reads_legacy(con, view):
            con.execute(_view_sql(view, legacy in kinds))


def _view_sql(view: str, legacy: bool) -> str:
    target = _STORE[view][0]
    select = ", ".join(f"{expr} AS {name}" for name, expr in _VIEW_COLUMNS[view])
    sql = f"CREATE OR REPLACE VIEW {view} AS SELECT {select} FROM {target}"
    if legacy:
        sql += f" UNION ALL SELECT {', '.join(name for name, _ in _VIEW_COLUMNS[view])} FROM {_LEGACY[view]}"
    return sql


def _one(cursor: duckdb.DuckDBPyConnection):
    """The one value of a query that always returns one row (a count, the current database)."""
    row = cursor.fetchone()
    assert row is not None, "a query that always returns a row returned none"
    return row[0]


def _reads_legacy(con: duckdb.DuckDBPyConnection, view: str) -> bool:
    sql = con.execute("SELECT sql FROM duckdb_views() WHERE database_name = current_database() AND schema_name = "
                      "'main' AND view_name = ?", [view]).fetchone()
    return sql is not None and _LEGACY[view] in sql[0]


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


@dataclass
class _Known:
    """What this process knows of a file it last closed with the schema in place, while the file stays as it left
    it (``identity``; a writer that changed it in between changed its size, times or inode): it needs no schema
    statements, and, when ``run_ids`` is known, which runs it holds."""

    identity: tuple
    run_ids: set[str] | None = None


_KNOWN: dict[str, _Known] = {}


def _identity(path: Path) -> tuple | None:
    """The file as it is on disk (device, inode, size, modification and change times); None while it has a WAL (a
    write not yet checkpointed into it) or does not exist."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    if Path(str(path) + ".wal").exists():
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@contextmanager
def _writing(path: str | Path):
    """``writing``, yielding also what is known of the file (``_Known``: its ``run_ids`` kept up to date by the
    caller, or set to None)."""
    flush()
    path = Path(path)
    key = str(path.resolve())
    with _locked(path):
        known = _KNOWN.pop(key, None)
        if known is not None and known.identity != _identity(path):
            known = None
        con = _connect_rw(path)
        ready = known is not None
        state = known or _Known(())
        try:
            if not ready:
                con.execute(SCHEMA)
                _migrate(con)
                ready = True
            yield con, state
        except BaseException:
            state.run_ids = None
            raise
        finally:
            con.close()
            if ready and (now := _identity(path)) is not None:
                state.identity = now
                _KNOWN[key] = state


@contextmanager
def writing(path: str | Path):
    """A read-write connection with the schema in place, held under the writers' lock (others wait); in this
    process, after the runs the background writer holds."""
    with _writing(path) as (con, state):
        state.run_ids = None  # what the caller writes is not followed
        yield con


def known_absent(path: str | Path, run_id: str) -> bool:
    """Whether the file is known not to hold the run ``run_id``: this process wrote it last, and knows its runs
    (else False: read it). Call after ``flush``."""
    path = Path(path)
    known = _KNOWN.get(str(path.resolve()))
    return known is not None and known.run_ids is not None and run_id not in known.run_ids and \
        known.identity == _identity(path)


# A run's rows are appended as row groups of their own and stay so: the checkpoint at the connection's close then
# writes them once, instead of merging them into the groups before (DuckDB's vacuum rewrote up to a full row group
# of every table at every run, more than half of the write's cost); ``compact`` (``glia gc``) rewrites the file
# into full groups. One thread: on a machine whose cores run the seeds, DuckDB's parallel append cost twice the CPU.
BULK_SETTINGS = "SET max_vacuum_tasks = 0; SET threads = 1"
SAMPLE_COLUMNS = ("t", "replica_id", "num_pending", "num_active", "allocated_blocks", "num_blocks", "global_queue")
EVENT_COLUMNS = ("t", "kind", "request_id", "replica_id", "value")


def write_run(path: str | Path, run: dict, seeds: list) -> None:
    """Store one benchmark run (``run``: the runs row) and its seeds' outcomes (``SeedOutcome``): one insert per
    table for all the seeds, the run id passed once (not a string per row), an event's kind as a code."""
    with _writing(path) as (con, known):
        con.execute(BULK_SETTINGS)
        con.execute("BEGIN")
        cols = list(run)
        con.execute(f"INSERT INTO runs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                    [run[c] for c in cols])
        rid = run["run_id"]
        if seeds:
            con.executemany(f"INSERT INTO run_seeds ({', '.join(SEED_COLUMNS)}) "
                            f"VALUES ({', '.join('?' * len(SEED_COLUMNS))})",
                            [[rid, o.seed, o.wall_s, (o.error or {}).get("kind"), (o.error or {}).get("message")]
                             + [clean((o.summary or {}).get(m), None) for m in RUN_METRICS] for o in seeds])
        requests = [o for o in seeds if o.requests is not None and len(o.requests["request_id"])]
        if requests:
            frame = {"seed": _seed_column([(o.seed, len(o.requests["request_id"])) for o in requests])}
            frame.update({c: np.concatenate([o.requests[c] for o in requests]) for c in REQUEST_COLUMNS})
            insert_frame(con, "requests", frame, run_id=rid)
        samples = [(o.seed, columns(o.samples, len(SAMPLE_COLUMNS))) for o in seeds if o.samples]
        if samples:
            frame = {"seed": _seed_column([(seed, len(c[0])) for seed, c in samples])}
            frame.update({name: np.concatenate([c[i] for _, c in samples]) for i, name in enumerate(SAMPLE_COLUMNS)})
            insert_frame(con, "replica_samples", frame, run_id=rid)
        events = [chunk for o in seeds for chunk in _event_chunks(o)]
        if events:
            names = tuple(dict.fromkeys(name for _, _, labels in events for name in labels))
            index = {name: k for k, name in enumerate(names)}
            frame = {"seed": _seed_column([(seed, len(c[0])) for seed, c, _ in events])}
            for i, name in enumerate(EVENT_COLUMNS):
                frame[name] = np.concatenate(
                    [np.array([index[n] for n in labels], dtype=np.int16)[c[1]] if name == "kind" else c[i]
                     for _, c, labels in events])
            insert_frame(con, "scheduling_events", frame, run_id=rid, labels={"kind": names})
        con.execute("COMMIT")
        if known.run_ids is None:
            known.run_ids = {r for (r,) in con.execute("SELECT run_id FROM runs").fetchall()}
        known.run_ids.add(rid)


def _seed_column(counts: list[tuple[int, int]]) -> np.ndarray:
    """The seed of every row of seeds' rows put one after the other: (seed, its rows) in order."""
    return np.repeat(np.array([s for s, _ in counts], dtype=np.int32), [n for _, n in counts])


def _event_chunks(o) -> list[tuple[int, list[np.ndarray], tuple[str, ...]]]:
    """A seed's scheduling events, then its scaling actions (events of request -1, value 0), as (seed, the columns
    with the kind as codes, the names the codes stand for)."""
    chunks = []
    if len(o.events):
        cols, labels = coded_columns(o.events, len(EVENT_COLUMNS), 1)
        chunks.append((o.seed, cols, labels))
    if len(o.scaling):
        (t, action, replica), labels = coded_columns(o.scaling, 3, 1)
        n = len(t)
        chunks.append((o.seed, [t, action, np.full(n, -1, dtype=np.int64), replica, np.zeros(n, dtype=np.int64)],
                       labels))
    return chunks


def insert_frame(con: duckdb.DuckDBPyConnection, table: str, frame: dict, run_id: str | None = None,
                 labels: dict[str, tuple[str, ...]] | None = None) -> None:
    """Append the columns of ``frame`` (name -> array, all of one length) to ``table``; for ``requests`` and
    ``scheduling_events`` (views), to their compact tables, converted (the frame has the views' columns).
    ``run_id``: every row's run id, when the frame has no such column (one parameter instead of a string per row);
    ``labels``: column -> the names its integer codes (0, 1, ...) stand for, for a column of names given as codes."""
    labels = labels or {}
    names = (["run_id"] if run_id is not None else []) + list(frame)
    select = (["? AS run_id"] if run_id is not None else []) + [
        f"CAST(? AS VARCHAR[])[{name} + 1] AS {name}" if name in labels else name for name in frame]
    params = ([run_id] if run_id is not None else []) + [list(labels[name]) for name in frame if name in labels]
    source = f"(SELECT {', '.join(select)} FROM _frame)"
    con.register("_frame", frame)
    try:
        if table in _STORE:
            target, exprs = _STORE[table]
            con.execute(f"INSERT INTO {target} ({', '.join(exprs)}) SELECT {', '.join(exprs.values())} FROM {source}",
                        params)
        else:
            con.execute(f"INSERT INTO {table} ({', '.join(names)}) SELECT * FROM {source}", params)
    finally:
        con.unregister("_frame")


def plain_frame(frame: dict, run_id: str | None = None, labels: dict[str, tuple[str, ...]] | None = None) -> dict:
    """``insert_frame``'s arguments as the one frame of the views' columns they stand for (the run id and the
    names as a string per row), as tests and benchmarks that copy what was written want it."""
    n = len(next(iter(frame.values())))
    out = {"run_id": np.full(n, run_id, dtype=object)} if run_id is not None else {}
    for name, col in frame.items():
        out[name] = np.array(labels[name], dtype=object)[col] if labels and name in labels else col
    return out


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


def thread_run_ids(con: duckdb.DuckDBPyConnection, thread_id: str) -> list[str]:
    """The telemetry runs of a design run (thread): its baselines (``THREAD-...``), its experiments
    (``THREAD/...``) and its held-out re-measurements (``THREAD-heldout-...``)."""
    return [r for (r,) in con.execute("SELECT run_id FROM runs WHERE run_id = ? OR starts_with(run_id, ?) OR "
                                      "starts_with(run_id, ?) ORDER BY created_at, run_id",
                                      [thread_id, thread_id + "-", thread_id + "/"]).fetchall()]


def row_counts(con: duckdb.DuckDBPyConnection, run_ids: list[str]) -> dict[str, int]:
    """Per-request rows the runs hold, per kind (requests, events, samples, other: the serving tables)."""
    present = {t for (t,) in con.execute("SELECT table_name FROM information_schema.tables WHERE table_catalog = "
                                         "current_database() AND table_schema = 'main' AND table_type = "
                                         "'BASE TABLE'").fetchall()}
    out = {"requests": 0, "events": 0, "samples": 0, "other": 0}
    if not run_ids:
        return out
    kind = {"_requests": "requests", "_requests_v1": "requests", "requests": "requests",
            "_scheduling_events": "events", "_scheduling_events_v1": "events", "scheduling_events": "events",
            "replica_samples": "samples"}
    for table in ROW_TABLES:
        if table in present:
            n = _one(con.execute(f"SELECT count(*) FROM {table} WHERE list_contains(?, run_id)", [run_ids]))
            out[kind.get(table, "other")] += n
    return out


def prune(path: str | Path, threads: dict[str, list[str]]) -> dict[str, dict[str, int]]:
    """Drop the per-request rows (requests, events, samples) of the given runs, ``threads``: thread id -> its
    telemetry run ids, keeping their ``runs`` and ``run_seeds`` rows; each run is listed in ``pruned_runs``. One
    transaction. Returns the rows dropped per thread. The file keeps its size until ``compact``."""
    out: dict[str, dict[str, int]] = {}
    with writing(path) as con:
        present = {t for (t,) in con.execute("SELECT table_name FROM information_schema.tables WHERE "
                                             "table_catalog = current_database() AND table_schema = 'main' AND "
                                             "table_type = 'BASE TABLE'").fetchall()}
        con.execute(PRUNED_SCHEMA)
        con.execute("BEGIN")
        for thread, run_ids in threads.items():
            dropped = {"requests": 0, "events": 0, "samples": 0, "other": 0}
            for rid in run_ids:
                counts = row_counts(con, [rid])
                for table in ROW_TABLES:
                    if table in present:
                        con.execute(f"DELETE FROM {table} WHERE run_id = ?", [rid])
                con.execute("INSERT INTO pruned_runs VALUES (?, ?, current_timestamp::TIMESTAMP, ?, ?, ?) ON "
                            "CONFLICT (run_id) DO UPDATE SET requests = pruned_runs.requests + excluded.requests, "
                            "events = pruned_runs.events + excluded.events, samples = pruned_runs.samples + "
                            "excluded.samples", [rid, thread, counts["requests"], counts["events"],
                                                 counts["samples"]])
                for k, v in counts.items():
                    dropped[k] += v
            out[thread] = dropped
        con.execute("COMMIT")
    return out


def compact(path: str | Path) -> tuple[int, int]:
    """Rewrite the database into a fresh file (DuckDB reuses the space of deleted rows but never gives it back),
    converting tables of the layout before the compact one; under the writers' lock, with readers waiting. Returns
    the file's size before and after, in bytes."""
    flush()
    path = Path(path)
    before = path.stat().st_size
    fresh = path.with_name(path.name + ".compact")
    with _locked(path):
        for stale in (fresh, Path(str(fresh) + ".wal")):
            stale.unlink(missing_ok=True)
        con = _connect_rw(path)
        try:
            con.execute(SCHEMA)
            _migrate(con)
            tables = {t for (t,) in con.execute("SELECT table_name FROM information_schema.tables WHERE "
                                                "table_catalog = current_database() AND table_schema = 'main'")
                      .fetchall()}
            con.execute("BEGIN")
            for view, legacy in _LEGACY.items():
                if legacy in tables:  # into the compact layout
                    target, exprs = _STORE[view]
                    con.execute(f"INSERT INTO {target} ({', '.join(exprs)}) SELECT {', '.join(exprs.values())} "
                                f"FROM {legacy}")
                    con.execute(_view_sql(view, False))
                    con.execute(f"DROP TABLE {legacy}")
            con.execute("COMMIT")
            con.execute("CHECKPOINT")
            name = _one(con.execute("SELECT current_database()"))
            con.execute("ATTACH '" + str(fresh).replace("'", "''") + "' AS _fresh")
            con.execute(f'COPY FROM DATABASE "{name}" TO _fresh')
            con.execute("DETACH _fresh")
        finally:
            con.close()
        Path(str(path) + ".wal").unlink(missing_ok=True)  # checkpointed on close: nothing in it
        fresh.replace(path)
    return before, path.stat().st_size
