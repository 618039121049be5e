"""The telemetry's compact storage answers as the plain tables did, and ``glia gc`` drops old runs' per-request rows
while keeping what summarises them.

Precision of the compact layout (simulator/harness/telemetry.py, "Storage"): times are integer microseconds, so a time
read back is within 0.5 us of what was written and a duration (e2e_s, ttft_s, queueing_s, tpot_s x its tokens) within
1 us; ``isolated_s`` is float32 (relative 6e-8); ``slowdown`` follows from both."""

from __future__ import annotations

import json
import math

import duckdb
import pytest

from glia.graph.cli import main
from glia.nodes.analyst import DIAGNOSTICS, EXTRA_DIAGNOSTICS, diagnose
from glia.simulator.harness import telemetry
from glia.simulator.harness.runner import run_benchmark
from glia.tools.evaluator import _stored
from glia.tools.telemetry_query import query_telemetry
from tests.support.helpers import small_config

CONFIG = small_config([(i * 0.02, 100 + 5 * i, 150 + (i % 7) * 10) for i in range(40)], num_replicas=2, num_blocks=80)

# the tables as they were before the compact layout (a database written by an older Glia)
LEGACY = """
CREATE TABLE requests (
    run_id VARCHAR, seed INTEGER, request_id BIGINT, arrived_at DOUBLE, num_prefill_tokens BIGINT,
    num_decode_tokens BIGINT, routed_at DOUBLE, replica_id INTEGER, scheduled_at DOUBLE, first_token_at DOUBLE,
    completed_at DOUBLE, num_restarts INTEGER, wasted_tokens BIGINT, e2e_s DOUBLE, ttft_s DOUBLE, tpot_s DOUBLE,
    queueing_s DOUBLE, isolated_s DOUBLE, slowdown DOUBLE);
CREATE TABLE scheduling_events (
    run_id VARCHAR, seed INTEGER, t DOUBLE, kind VARCHAR, request_id BIGINT, replica_id INTEGER, value BIGINT);
"""
TIME_COLUMNS = ("arrived_at", "routed_at", "scheduled_at", "first_token_at", "completed_at")
DURATION_COLUMNS = ("e2e_s", "ttft_s", "queueing_s")


@pytest.fixture
def twin(tmp_path, monkeypatch):
    """The same two runs written twice: through the compact layout, and as plain DOUBLE tables (the frames the
    writer was handed, inserted as they are; the other tables copied)."""
    frames: list[tuple[str, dict]] = []
    real = telemetry.insert_frame

    def capture(con, table, frame, run_id=None, labels=None):
        frames.append((table, {k: v.copy() for k, v in telemetry.plain_frame(frame, run_id, labels).items()}))
        real(con, table, frame, run_id, labels)

    monkeypatch.setattr(telemetry, "insert_frame", capture)
    compact = tmp_path / "compact.duckdb"
    for rid, policy in (("t1/c1-e001", "llq"), ("t1/c1-e002", "round_robin")):
        res = run_benchmark(policy, CONFIG, [0, 1], telemetry=compact, run_id=rid, isolate=False)
        assert res.error is None
    monkeypatch.setattr(telemetry, "insert_frame", real)
    plain = tmp_path / "plain.duckdb"
    con = duckdb.connect(str(plain))
    con.execute(LEGACY)
    for table, frame in frames:
        if table in ("requests", "scheduling_events"):
            con.register("_frame", frame)
            con.execute(f"INSERT INTO {table} ({', '.join(frame)}) SELECT * FROM _frame")
            con.unregister("_frame")
    con.execute(f"ATTACH '{compact}' AS c (READ_ONLY)")
    for table in ("runs", "run_seeds", "replica_samples"):  # what the compact layout does not change
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM c.{table}")
    con.execute("DETACH c")
    con.close()
    return compact, plain


def test_the_compact_layout_answers_the_analysts_queries_as_the_plain_tables(twin):
    compact, plain = twin
    a, b = duckdb.connect(str(plain), read_only=True), duckdb.connect(str(compact), read_only=True)
    assert [c for c, _ in b.execute("SELECT column_name, data_type FROM information_schema.columns WHERE "
                                    "table_name = 'requests' ORDER BY ordinal_position").fetchall()] == [
        c for c, _ in a.execute("SELECT column_name, data_type FROM information_schema.columns WHERE "
                                "table_name = 'requests' ORDER BY ordinal_position").fetchall()]
    assert b.execute("SELECT count(*), sum(num_restarts) FROM requests").fetchone() == \
        a.execute("SELECT count(*), sum(num_restarts) FROM requests").fetchone()
    assert b.execute("SELECT sum(num_restarts) FROM requests").fetchone()[0] > 0  # preemptions are exercised
    order = "ORDER BY run_id, seed, request_id"
    rows_a = a.execute(f"SELECT * FROM requests {order}").fetchall()
    rows_b = b.execute(f"SELECT * FROM requests {order}").fetchall()
    names = [d[0] for d in a.description]
    for ra, rb in zip(rows_a, rows_b, strict=True):
        for name, x, y in zip(names, ra, rb, strict=True):
            if name in TIME_COLUMNS:
                assert y == pytest.approx(x, abs=0.5e-6), name
            elif name in DURATION_COLUMNS:
                assert y == pytest.approx(x, abs=1e-6), name
            elif name == "tpot_s":
                assert (x is None) == (y is None) and (x is None or y == pytest.approx(x, abs=1e-6)), name
            elif name in ("isolated_s", "slowdown"):
                assert y == pytest.approx(x, rel=1e-5), name
            else:
                assert x == y, name
    ev = "SELECT seed, t, kind, request_id, replica_id, value FROM scheduling_events ORDER BY run_id, seed, t, kind, " \
         "request_id"
    for ea, eb in zip(a.execute(ev).fetchall(), b.execute(ev).fetchall(), strict=True):
        assert eb[1] == pytest.approx(ea[1], abs=0.5e-6) and ea[2:] == eb[2:]
    queries = dict(DIAGNOSTICS)
    for extra in EXTRA_DIAGNOSTICS.values():
        queries.update(extra)
    checked = 0
    for rid in ("t1/c1-e001", "t1/c1-e002"):
        for topic, sql in queries.items():
            x = a.execute(sql, [rid] * sql.count("?")).fetchone()
            y = b.execute(sql, [rid] * sql.count("?")).fetchone()
            for u, v in zip(x, y, strict=True):
                if isinstance(u, float) and not math.isnan(u):
                    assert v == pytest.approx(u, rel=1e-5, abs=2e-6), (topic, u, v)
                    checked += 1
                else:
                    assert u == v, topic
    assert checked > 20
    a.close()
    b.close()


def test_a_database_written_before_the_compact_layout_is_read_and_converted(twin, tmp_path):
    compact, plain = twin
    # the older database also has the summary tables: write one run through the current writer, which migrates
    run_benchmark("llq", CONFIG, [2], telemetry=plain, run_id="t1/c1-e003", isolate=False)
    con = duckdb.connect(str(plain), read_only=True)
    kinds = dict(con.execute("SELECT table_name, table_type FROM information_schema.tables").fetchall())
    assert kinds["requests"] == "VIEW" and kinds["_requests_v1"] == "BASE TABLE"  # renamed, not rewritten
    before = con.execute("SELECT run_id, count(*), sum(e2e_s) FROM requests GROUP BY 1 ORDER BY 1").fetchall()
    con.close()
    assert [r for r, _, _ in before] == ["t1/c1-e001", "t1/c1-e002", "t1/c1-e003"]
    telemetry.compact(plain)
    con = duckdb.connect(str(plain), read_only=True)
    kinds = dict(con.execute("SELECT table_name, table_type FROM information_schema.tables").fetchall())
    assert "_requests_v1" not in kinds and "_scheduling_events_v1" not in kinds
    after = con.execute("SELECT run_id, count(*), sum(e2e_s) FROM requests GROUP BY 1 ORDER BY 1").fetchall()
    con.close()
    for (r1, n1, s1), (r2, n2, s2) in zip(before, after, strict=True):
        assert (r1, n1) == (r2, n2) and s2 == pytest.approx(s1, abs=n1 * 1e-6)


def _workspace(tmp_path, threads: list[str]):
    """A workspace whose runs are finished (run.json, report.md) and whose telemetry holds each run's rows."""
    ws = tmp_path / "ws"
    db = ws / "telemetry.duckdb"
    for i, thread in enumerate(threads):
        run_dir = ws / "runs" / thread
        run_dir.mkdir(parents=True)
        (run_dir / "run.json").write_text(json.dumps({
            "thread_id": thread, "task": "routing", "created_at": f"2026-01-0{i + 1}T00:00:00+00:00", "contexts": 1,
            "mode": "parallel", "budget_sims": 1, "implementations": {"researcher": "offline"}}))
        (run_dir / "report.md").write_text(f"# report of {thread}\n")
        for rid in (f"{thread}-baseline-llq", f"{thread}/c1-e001"):
            run_benchmark("llq", CONFIG, [0], telemetry=db, run_id=rid, isolate=False)
    return ws, db


def test_gc_drops_old_runs_rows_and_keeps_their_summaries(tmp_path, capsys):
    ws, db = _workspace(tmp_path, ["old", "new"])
    with telemetry.reading(db) as con:
        summary = con.execute("SELECT * FROM runs ORDER BY run_id").fetchall()
        seeds = con.execute("SELECT * FROM run_seeds ORDER BY run_id").fetchall()
    stored = _stored(db, "old/c1-e001")
    assert main(["gc", "--keep", "1", "--workspace", str(ws)]) == 0
    out = capsys.readouterr().out
    assert "dropping old: 2 telemetry run(s)" in out and "dropping new" not in out
    assert " -> " in out and "bytes" in out
    with telemetry.reading(db) as con:
        left = dict(con.execute("SELECT run_id, count(*) FROM requests GROUP BY 1").fetchall())
        assert set(left) == {"new-baseline-llq", "new/c1-e001"}
        events = {r for (r,) in con.execute("SELECT DISTINCT run_id FROM scheduling_events").fetchall()}
        samples = {r for (r,) in con.execute("SELECT DISTINCT run_id FROM replica_samples").fetchall()}
        assert events == samples == set(left)
        assert con.execute("SELECT * FROM runs ORDER BY run_id").fetchall() == summary  # summaries kept
        assert con.execute("SELECT * FROM run_seeds ORDER BY run_id").fetchall() == seeds
        pruned = con.execute("SELECT run_id, thread_id, requests > 0 FROM pruned_runs ORDER BY 1").fetchall()
        assert pruned == [("old-baseline-llq", "old", True), ("old/c1-e001", "old", True)]
    assert _stored(db, "old/c1-e001") == stored  # what a resumed run's evaluator reads back
    assert (ws / "runs" / "old" / "report.md").read_text() == "# report of old\n"
    assert main(["runs", "--workspace", str(ws)]) == 0
    assert "old  routing" in capsys.readouterr().out
    # the Analyst's queries: one on a pruned run is told so; one over everything is told what is missing
    with pytest.raises(ValueError, match=r"old/c1-e001 were dropped by `glia gc`; its figures remain in runs"):
        query_telemetry(db, "SELECT avg(e2e_s) FROM requests WHERE run_id = 'old/c1-e001'")
    answer = query_telemetry(db, "SELECT run_id, count(*) FROM requests GROUP BY 1 ORDER BY 1")
    assert answer.endswith("(the per-request rows of 2 run(s) were dropped by `glia gc` and are not in this "
                           "answer; pruned_runs lists them, runs and run_seeds keep their figures)")
    assert "pruned" not in query_telemetry(db, "SELECT count(*) FROM runs")  # a summary is whole: no note
    assert diagnose(db, "new/c1-e001")  # the kept run's diagnostics still answer


def test_gc_lists_dry_runs_and_refuses_an_unknown_run(tmp_path, capsys):
    ws, db = _workspace(tmp_path, ["a", "b"])
    size = db.stat().st_size
    assert main(["gc", "--workspace", str(ws)]) == 0
    listing = capsys.readouterr().out
    assert f"{size:,} bytes" in listing
    assert [line.split()[:3:2] for line in listing.splitlines()[2:4]] == [["a", "finished"], ["b", "finished"]]
    assert main(["gc", "a", "--dry-run", "--workspace", str(ws)]) == 0
    assert "would drop a: 2 telemetry run(s)" in capsys.readouterr().out
    assert db.stat().st_size == size
    with telemetry.reading(db) as con:
        assert con.execute("SELECT count(DISTINCT run_id) FROM requests").fetchone()[0] == 4
    assert main(["gc", "nope", "--workspace", str(ws)]) == 2
    assert "no run 'nope'" in capsys.readouterr().err
    assert main(["gc", "--keep", "5", "--workspace", str(ws)]) == 0
    assert "nothing to drop" in capsys.readouterr().out
    assert main(["gc", "a", "--workspace", str(ws)]) == 0
    capsys.readouterr()
    assert main(["gc", "--workspace", str(ws)]) == 0
    assert "pruned" in capsys.readouterr().out
