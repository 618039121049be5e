"""Metrics, artifact files, the telemetry database and the command line."""

from __future__ import annotations

import csv
import json

import duckdb
import numpy as np
import pytest

from glia.graph.cli import main
from glia.simulator.harness.runner import run_benchmark
from glia.simulator.metrics import aggregate, bootstrap_ci
from tests.support.helpers import small_config


def test_bootstrap_ci_brackets_the_mean_and_narrows_with_more_data():
    rng = np.random.default_rng(1)
    small, large = rng.exponential(10, 50), rng.exponential(10, 5000)
    lo, hi = bootstrap_ci(small, np.random.default_rng(0))
    assert lo < small.mean() < hi
    lo2, hi2 = bootstrap_ci(large, np.random.default_rng(0))
    assert hi2 - lo2 < (hi - lo) / 4


def test_aggregate_uses_seed_means_over_several_seeds():
    agg = aggregate([{"mean_e2e_s": 10.0}, {"mean_e2e_s": 20.0}, {"mean_e2e_s": 30.0}], [])
    assert agg["mean_e2e_s"]["mean"] == 20.0 and agg["mean_e2e_s"]["per_seed"] == [10.0, 20.0, 30.0]
    lo, hi = agg["mean_e2e_s"]["ci90"]
    assert 10.0 <= lo < 20.0 < hi <= 30.0


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    ws = tmp_path_factory.mktemp("ws")
    cfg = small_config([(i * 0.2, 50 + 3 * i, 40 + i) for i in range(30)], num_replicas=2, num_blocks=60)
    res = run_benchmark("llq", cfg, 2, out_dir=ws / "runs", telemetry=ws / "telemetry.duckdb")
    return ws, res


def test_per_request_metrics_are_consistent(recorded):
    _, res = recorded
    req = res.outcomes[0].requests
    assert np.all(req["ttft_s"] <= req["e2e_s"]) and np.all(req["queueing_s"] <= req["ttft_s"])
    assert np.all(req["slowdown"] >= 1.0 - 1e-9)
    multi = req["num_decode_tokens"] > 1
    tpot = (req["completed_at"] - req["first_token_at"])[multi] / (req["num_decode_tokens"][multi] - 1)
    assert np.allclose(req["tpot_s"][multi], tpot)
    assert res.metric("mean_e2e_s") == pytest.approx(req["e2e_s"].mean() / 2 + res.outcomes[1].requests["e2e_s"]
                                                     .mean() / 2)


def test_artifact_files_as_in_the_paper(recorded):
    ws, res = recorded
    seed0 = ws / "runs" / res.run_id / "seed_0"
    assert json.loads((seed0 / "config.json").read_text())["cluster"]["num_replicas"] == 2
    with open(seed0 / "gs_log.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 30 and set(rows[0]) == {"time", "request_id", "replica_id", "num_prefill_tokens"}
    with open(seed0 / "request_metrics.csv") as f:
        metrics = list(csv.DictReader(f))
    assert len(metrics) == 30 and "ttft_s" in metrics[0] and "num_restarts" in metrics[0]
    assert (seed0 / "reqs_log.csv").read_text().startswith("request_id,arrived_at,num_prefill_tokens")
    assert json.loads((ws / "runs" / res.run_id / "summary.json").read_text())["policy"] == "llq"


def test_telemetry_database_answers_questions_in_sql(recorded):
    ws, res = recorded
    con = duckdb.connect(str(ws / "telemetry.duckdb"), read_only=True)
    assert con.execute("SELECT policy, seeds FROM runs").fetchall() == [("llq", 2)]
    assert con.execute("SELECT count(*) FROM requests").fetchone()[0] == 60
    preempts = con.execute("SELECT count(*) FROM scheduling_events WHERE kind = 'preempt'").fetchone()[0]
    restarts = con.execute("SELECT sum(num_restarts) FROM requests").fetchone()[0]
    assert preempts == restarts > 0
    by_replica = con.execute("SELECT replica_id, max(allocated_blocks) <= max(num_blocks) FROM replica_samples "
                             "GROUP BY 1 ORDER BY 1").fetchall()
    assert by_replica == [(0, True), (1, True)]
    mean = con.execute("SELECT avg(mean_e2e_s) FROM run_seeds").fetchone()[0]
    assert mean == pytest.approx(res.metric("mean_e2e_s"))
    with pytest.raises(duckdb.Error):
        con.execute("DELETE FROM requests")
    con.close()


def test_cli_simulate_json(tmp_path, capsys):
    code = main(["simulate", "--policy", "llq", "--workload", "paper-routing-short", "--seeds", "2", "--json",
                 "--workspace", str(tmp_path)])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["error"] is None
    for key in ("policy", "workload", "seeds", "mean_e2e_s", "mean_e2e_ci90", "p90_e2e_s", "mean_ttft_s",
                "restart_fraction", "wall_s"):
        assert key in out
    assert out["seeds"] == 2 and out["mean_e2e_ci90"][0] <= out["mean_e2e_s"] <= out["mean_e2e_ci90"][1]
    assert (tmp_path / "telemetry.duckdb").exists()
    # glia simulate's artifacts have their own folder, apart from the design runs' runs/
    assert sorted(p.name for p in (tmp_path / "simulations").glob("*/seed_*")) == ["seed_0", "seed_1"]
    assert not (tmp_path / "runs").exists()


def test_cli_reports_a_failing_policy_with_a_non_zero_exit(tmp_path, capsys):
    bad = tmp_path / "bad.py"
    bad.write_text("from glia.simulator import BaseGlobalScheduler\n"
                   "class P(BaseGlobalScheduler):\n    def schedule(self):\n        return [(99, r) for r in "
                   "self._request_queue]\n")
    code = main(["simulate", "--policy", str(bad), "--workload", "paper-routing-short", "--seeds", "1", "--json",
                 "--no-record"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and out["error"]["kind"] == "invalid_replica" and "replica 99" in out["error"]["message"]
    code = main(["simulate", "--policy", str(bad), "--workload", "paper-routing-short", "--seeds", "1",
                 "--no-record"])
    assert code == 1 and "invalid_replica" in capsys.readouterr().err
