"""The telemetry writer's batched path (one insert per table for all seeds, the run id as a parameter, an event's
kind as a code) stores exactly what the per-seed path before it stored: the same rows, values, types and order, for
records as a seed process sends them (columns), as the engine keeps them in-process (tuples), with autoscaling
actions, failed seeds, and times that are not finite or fall on half a microsecond."""

from __future__ import annotations

import math
from dataclasses import replace

import duckdb
import numpy as np

from glia.simulator import AutoscalingConfig
from glia.simulator.harness import telemetry
from glia.simulator.harness.sandbox import SeedOutcome, run_seeds
from glia.simulator.metrics import RUN_METRICS, clean
from glia.simulator.rows import columns
from tests.support.helpers import small_config

CONFIG = small_config([(i * 0.05, 30 + i, 20) for i in range(40)], num_replicas=2, num_blocks=200)
SCALING = CONFIG.replace(autoscaler=AutoscalingConfig(interval_s=0.25, cold_start_s=0.2, min_replicas=1,
                                                      max_replicas=4))
TABLES = ("runs", "run_seeds", "_requests", "_scheduling_events", "replica_samples", "requests", "scheduling_events")


def per_seed_write(path, run: dict, seeds: list) -> None:
    """What ``write_run`` did before it batched the seeds: per seed and table, a frame of the views' columns with
    the run id and the kinds as a string per row."""
    def rows_frame(rid, seed, rows, names):
        n = len(rows)
        frame = {"run_id": np.full(n, rid, dtype=object), "seed": np.full(n, seed)}
        for name, col in zip(names, columns(rows, len(names)), strict=True):
            frame[name] = col.astype(object) if col.dtype.kind == "U" else col
        return frame

    with telemetry.writing(path) as con:
        con.execute("BEGIN")
        con.execute(f"INSERT INTO runs ({', '.join(run)}) VALUES ({', '.join('?' * len(run))})", list(run.values()))
        rid = run["run_id"]
        for o in seeds:
            s, err = o.summary or {}, o.error or {}
            con.execute(f"INSERT INTO run_seeds ({', '.join(telemetry.SEED_COLUMNS)}) VALUES "
                        f"({', '.join('?' * len(telemetry.SEED_COLUMNS))})",
                        [rid, o.seed, o.wall_s, err.get("kind"), err.get("message")]
                        + [clean(s.get(m), None) for m in RUN_METRICS])
            if o.requests is not None and len(o.requests["request_id"]):
                n = len(o.requests["request_id"])
                frame = {"run_id": np.full(n, rid, dtype=object), "seed": np.full(n, o.seed)}
                frame.update({c: o.requests[c] for c in telemetry.REQUEST_COLUMNS})
                telemetry.insert_frame(con, "requests", frame)
            if o.samples:
                telemetry.insert_frame(con, "replica_samples",
                                       rows_frame(rid, o.seed, o.samples, telemetry.SAMPLE_COLUMNS))
            if len(o.events):
                telemetry.insert_frame(con, "scheduling_events",
                                       rows_frame(rid, o.seed, o.events, telemetry.EVENT_COLUMNS))
            if len(o.scaling):
                scaling = [(t, kind, -1, rep, 0) for t, kind, rep in o.scaling]
                telemetry.insert_frame(con, "scheduling_events",
                                       rows_frame(rid, o.seed, scaling, telemetry.EVENT_COLUMNS))
        con.execute("COMMIT")


def stored(path) -> dict[str, tuple[list, list]]:
    """Every table and view: (its columns and types, its rows in storage order)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {t: (con.execute(f"DESCRIBE {t}").fetchall(), con.execute(f"SELECT * FROM {t}").fetchall())
                for t in TABLES}
    finally:
        con.close()


def same(a, b) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


def edges(o: SeedOutcome) -> SeedOutcome:
    """``o`` with times the conversion to microseconds must treat alike: not finite, half a microsecond (up and
    down, positive and negative), just under half."""
    req = {k: np.array(v, copy=True) for k, v in o.requests.items()}
    odd = [math.nan, math.inf, -math.inf, 2.5e-6, 3.5e-6, 1.0000005, -2.5e-6, 0.49999999999999994e-6]
    for i, v in enumerate(odd):
        req["completed_at"][i] = v
        req["first_token_at"][-1 - i] = v
    req["routed_at"][len(odd)] = math.nan
    return replace(o, requests=req)


def test_the_batched_writer_stores_what_the_per_seed_writer_stored(tmp_path):
    isolated = run_seeds(SCALING, "llq", [0, 1], jobs=1)          # columns, as a seed process sends them
    in_process = run_seeds(SCALING, "round_robin", [2], isolate=False)  # tuples, as the engine keeps them
    assert all(o.error is None for o in isolated + in_process)
    assert all(len(o.scaling) for o in isolated + in_process)      # autoscaling actions are written as events
    failed = SeedOutcome(3, error={"kind": "exception", "message": "boom"}, wall_s=0.5)
    runs = [("t/c1-e001", [*isolated, failed, *in_process]), ("t/c1-e002", [edges(isolated[1]), in_process[0]]),
            ("t/c1-e003", [failed]), ("t/c1-e004", [])]
    for rid, seeds in runs:
        run = {"run_id": rid, "policy": "llq", "seeds": len(seeds), "wall_s": 1.25}
        telemetry.write_run(tmp_path / "batched.duckdb", run, seeds)
        per_seed_write(tmp_path / "per_seed.duckdb", run, seeds)
    new, old = stored(tmp_path / "batched.duckdb"), stored(tmp_path / "per_seed.duckdb")
    assert len(old["_requests"][1]) > 100 and len(old["_scheduling_events"][1]) > 100
    kinds = {r[3] for r in old["scheduling_events"][1]}
    assert kinds >= {"route", "admit", "complete"} and kinds & {"start", "ready", "drain", "release"}
    assert sum(r[10] is None for r in old["requests"][1]) >= 3  # the times that are not finite are unknown
    for table in TABLES:
        assert new[table][0] == old[table][0], table
        assert len(new[table][1]) == len(old[table][1]), table
        for a, b in zip(new[table][1], old[table][1], strict=True):
            assert all(same(x, y) for x, y in zip(a, b, strict=True)), (table, a, b)


def test_a_file_changed_by_another_writer_gets_its_schema_checked_again(tmp_path):
    path = tmp_path / "t.duckdb"
    [o] = run_seeds(CONFIG, "llq", [0], isolate=False)
    telemetry.write_run(path, {"run_id": "a"}, [o])
    con = duckdb.connect(str(path))  # another program drops a view this process created
    con.execute("DROP VIEW requests")
    con.close()
    telemetry.write_run(path, {"run_id": "b"}, [o])
    with telemetry.reading(path) as con:
        assert con.execute("SELECT run_id, count(*) FROM requests GROUP BY run_id ORDER BY run_id").fetchall() == [
            ("a", 40), ("b", 40)]


def test_a_run_this_process_wrote_last_is_known_and_another_writer_makes_it_read_again(tmp_path):
    path = tmp_path / "t.duckdb"
    [o] = run_seeds(CONFIG, "llq", [0], isolate=False)
    telemetry.write_run(path, {"run_id": "a"}, [o])
    assert telemetry.known_absent(path, "b") and not telemetry.known_absent(path, "a")
    telemetry.write_run(path, {"run_id": "b"}, [o])
    assert not telemetry.known_absent(path, "b") and telemetry.known_absent(path, "c")
    con = duckdb.connect(str(path))  # another program adds a run: this process no longer knows the file's runs
    con.execute("INSERT INTO runs (run_id) VALUES ('c')")
    con.close()
    assert not telemetry.known_absent(path, "c") and not telemetry.known_absent(path, "d")
    telemetry.write_run(path, {"run_id": "d"}, [o])  # read again by the next write
    assert not telemetry.known_absent(path, "c") and telemetry.known_absent(path, "e")
    with telemetry.writing(path) as con:  # a write this process does not follow (a prune, a table of results)
        con.execute("CREATE TABLE IF NOT EXISTS notes (x INTEGER)")
    assert not telemetry.known_absent(path, "e")
