"""Sim-to-real: rank agreement and its report, and the whole comparison over emulated backends."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from glia.graph.serving.loadgen import plan_workload
from glia.graph.serving.records import Recorder
from glia.graph.serving.simtoreal import PolicyRun, agreement, fit_in_run, kendall_tau, report_markdown, sim_to_real
from glia.simulator.measured import ServiceModel
from tests.support.emulated_backend import EmulatedBackend


def test_kendall_tau_b_of_known_orders():
    assert kendall_tau(np.array([1, 2, 3]), np.array([10, 20, 30])) == 1.0
    assert kendall_tau(np.array([1, 2, 3]), np.array([30, 20, 10])) == -1.0
    assert kendall_tau(np.array([1, 2, 3]), np.array([10, 30, 20])) == pytest.approx(1 / 3)
    assert kendall_tau(np.array([1, 1, 2]), np.array([1, 2, 3])) == pytest.approx(2 / np.sqrt(6))


def _run(name, real, sim):
    return PolicyRun(name, np.asarray(real, float), np.asarray(real, float) / 2, np.asarray(sim, float),
                     np.asarray(sim, float) / 2)


def test_agreement_is_perfect_when_the_simulator_ranks_like_reality_whatever_the_scale():
    rng = np.random.default_rng(0)
    base = rng.exponential(1.0, 200)
    runs = [_run("a", base, base / 3), _run("b", base * 2, base * 2 / 3), _run("c", base * 4, base * 4 / 3)]
    agree = agreement(runs, resamples=200)
    m = agree["mean_e2e_s"]
    assert m["tau"] == 1.0 and m["tau_ci90"] == [1.0, 1.0] and m["pairs_agree"] == 3
    assert m["ratios"] == pytest.approx([3.0, 3.0, 3.0])
    assert all(p["real_winner_share"] == 1.0 for p in m["pairs"])


def test_a_reversed_ranking_and_a_noisy_pair_are_reported_as_such():
    rng = np.random.default_rng(1)
    a, b = rng.exponential(1.0, 100), rng.exponential(1.0, 100)
    runs = [_run("x", a, a * 3), _run("y", b, a)]
    m = agreement(runs, resamples=300)["mean_e2e_s"]
    assert m["tau"] in (1.0, -1.0) and m["tau_ci90"][0] == -1.0  # two similar policies: the CI spans both orders
    assert 0.0 < m["pairs"][0]["real_winner_share"] < 1.0
    setup = {"workload": "w", "requests": 100, "repeats": 1, "backends": [{"url": "u", "kind": "k"}],
             "service": {}, "cluster": {"num_blocks": 1, "block_size": 16, "batch_size_cap": 1, "chunk_size": 512}}
    text = report_markdown(runs, agreement(runs, resamples=50), setup)
    assert "| x | " in text and "| y | " in text and "Kendall tau-b" in text and "x vs y" in text
    assert "tau can only be one of -1.000, 1.000" in text and "fitted to the runs" not in text
    for r in runs:
        r.fit_e2e, r.fit_ttft = r.real_e2e * 1.1, r.real_ttft * 1.1
    fitted = agreement(runs, resamples=50, source="fit")
    assert fitted["mean_e2e_s"]["ratios"] == pytest.approx([1 / 1.1] * 2) and fitted["mean_e2e_s"]["tau"] == 1.0
    text = report_markdown(runs, agreement(runs, resamples=50), dict(setup, fitted_service={"per_token_s": 1}),
                           fitted)
    assert "fitted to the runs themselves" in text and "sim (fit) mean e2e (s)" in text


@pytest.mark.loopback
async def test_the_comparison_runs_each_policy_for_real_and_in_the_calibrated_simulator(tmp_path):
    backends = [EmulatedBackend(num_blocks=64, batch_cap=8, overhead_s=0.002, per_token_s=2e-4) for _ in range(2)]
    urls = [await b.start() for b in backends]
    plan = plan_workload("paper-routing", max_requests=16, time_scale=0.005, length_scale=0.05, max_prompt=200,
                         max_output=24)
    try:
        runs, agree, setup = await sim_to_real(urls, ["llq", "round_robin"], plan, tmp_path / "t.duckdb",
                                               service=ServiceModel(0.002, 2e-4), progress=False)
    finally:
        for b in backends:
            await b.stop()
    assert [r.policy for r in runs] == ["llq", "round_robin"]
    for r in runs:
        assert r.failed == 0 and r.lengths_held == (16, 16)
        assert not np.isnan(r.real_e2e).any() and not np.isnan(r.sim_e2e).any()
    assert setup["cluster"] == {"num_blocks": 64, "block_size": 16, "batch_size_cap": 128, "chunk_size": 512}
    assert all(np.isfinite(agree["alone"]["mean_e2e_s"]["ratios"])) and agree["fit"] is None  # batching backends
    con = duckdb.connect(str(tmp_path / "t.duckdb"), read_only=True)
    contexts = sorted(con.execute("SELECT context, policy FROM runs").fetchall())
    assert contexts == [("serving", "llq"), ("serving", "round_robin"), ("sim-to-real", "llq"),
                        ("sim-to-real", "round_robin")]
    assert con.execute("SELECT count(*) FROM requests").fetchone()[0] == 4 * 16
    con.close()


def test_the_in_run_fit_reads_service_times_from_the_routers_records_and_skips_retried_requests():
    true = ServiceModel(0.01, 0.004, 1e-5)
    rec = Recorder(None, "r", "llq", "w", {}, "serving")
    for k, (p, d) in enumerate([(20, 5), (300, 30), (900, 12), (60, 40), (500, 2)]):
        start = 10.0 * k
        first = start + true.prefill_time(p, 512)
        done = first + sum(true.decode_step(p + 1 + j) for j in range(d - 1))
        rec.finished.append({"num_prefill_tokens": p, "num_decode_tokens": d, "scheduled_at": start,
                             "first_token_at": first, "completed_at": done, "num_restarts": 0})
    rec.finished.append({"num_prefill_tokens": 50, "num_decode_tokens": 9, "scheduled_at": 0.0,
                         "first_token_at": 99.0, "completed_at": 999.0, "num_restarts": 1})
    fitted = fit_in_run([rec], 512)
    assert fitted.per_token_s == pytest.approx(0.004, rel=0.05) and fitted.overhead_s == pytest.approx(0.01, rel=0.2)
