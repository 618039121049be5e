"""Real traffic in the telemetry database: the simulator's tables, incremental flushes, the Analyst's SQL."""

from __future__ import annotations

import math

import duckdb
import pytest

from glia.graph.serving.records import Recorder
from glia.simulator.measured import MeasuredExecutionModel, ServiceModel
from glia.tools.telemetry_query import query_telemetry, schema


def _request(rid: int, status: str = "ok", t: float = 0.0) -> tuple[dict, dict]:
    raw = {"request_id": rid, "arrived_at": t, "num_prefill_tokens": 100, "num_decode_tokens": 10,
           "routed_at": t + 0.1, "replica_id": rid % 2, "scheduled_at": t + 0.2, "first_token_at": t + 0.5,
           "completed_at": t + 1.0 if status == "ok" else math.nan, "num_restarts": 0, "wasted_tokens": 0}
    served = {"request_id": rid, "api": "completions", "stream": True, "status": status, "http_status": 200,
              "backend": "http://127.0.0.1:1", "prompt_source": "header", "error": None if status == "ok" else "x"}
    return raw, served


def test_each_flush_appends_what_is_new_and_rewrites_the_summary(tmp_path):
    db = tmp_path / "t.duckdb"
    rec = Recorder(db, "r1", "/designs/best_policy.py", "live", {"a": 1}, "serving",
                   ServiceModel(0.01, 0.001), replicas=2)
    rec.request(*_request(0))
    rec.event(0.1, "route", 0, 0, 100)
    rec.sample(0.5, 0, 1, 0, 0, 128, 0)
    rec.backend_sample(0.5, 0, "u", True, 1.0, None, 0.25, 32.0, 0)
    rec.flush(1.0)
    rec.request(*_request(1, t=1.0))
    rec.request(*_request(2, status="failed"))
    rec.flush(2.0)
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT request_id FROM requests ORDER BY 1").fetchall() == [(0,), (1,)]
    assert con.execute("SELECT policy, context, error_kind, error_message FROM runs").fetchall() == [
        ("best_policy.py", "serving", "failed_requests", "1 of 3 requests did not complete: 1 failed")]
    assert con.execute("SELECT count(*), max(num_requests) FROM run_seeds").fetchone() == (1, 2.0)
    assert con.execute("SELECT status, count(*) FROM served_requests GROUP BY 1 ORDER BY 1").fetchall() == [
        ("failed", 1), ("ok", 2)]
    assert con.execute("SELECT waiting IS NULL OR isnan(waiting), kv_usage FROM backend_samples").fetchone() == (
        True, 0.25)
    slowdown = con.execute("SELECT slowdown FROM requests WHERE request_id = 0").fetchone()[0]
    con.close()
    alone = MeasuredExecutionModel(ServiceModel(0.01, 0.001)).isolated_time(100, 10, 512)
    assert slowdown == pytest.approx(1.0 / alone)


def test_rows_added_while_a_flush_runs_go_with_the_next_flush(tmp_path, monkeypatch):
    db = tmp_path / "t.duckdb"
    rec = Recorder(db, "r1", "llq", "live", {}, "serving")
    rec.request(*_request(0))
    original = rec.metrics

    def racing(upto=None):  # the router appends while the flush thread computes
        out = original(upto)
        rec.request(*_request(1))
        return out
    monkeypatch.setattr(rec, "metrics", racing)
    rec.flush(1.0)
    monkeypatch.setattr(rec, "metrics", original)
    rec.flush(2.0)
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT request_id FROM requests ORDER BY 1").fetchall() == [(0,), (1,)]
    assert con.execute("SELECT count(*) FROM served_requests").fetchone()[0] == 2
    con.close()


def test_the_analysts_sql_reads_real_traffic_like_a_simulation(tmp_path):
    db = tmp_path / "t.duckdb"
    rec = Recorder(db, "r1", "hra", "live", {}, "serving")
    for i in range(4):
        rec.request(*_request(i, t=float(i)))
    rec.flush(5.0)
    assert "served_requests(" in schema(db) and "backend_samples(" in schema(db)
    out = query_telemetry(db, "SELECT replica_id, count(*) AS n, avg(e2e_s) AS e2e FROM requests GROUP BY 1 "
                              "ORDER BY 1")
    assert out.splitlines() == ["replica_id | n | e2e", "0 | 2 | 1", "1 | 2 | 1"]
