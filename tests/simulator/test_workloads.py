"""Workload generators: seeded, reproducible, and shaped as documented."""

from __future__ import annotations

import numpy as np
import pytest

from glia.simulator import Simulation, workloads
from glia.simulator.config import ClusterConfig, SimulationConfig
from glia.simulator.policy.builtin import POLICIES
from glia.simulator.workloads import (
    WorkloadSpec,
    closed_loop,
    length_table,
    poisson,
    replay,
    sample_lengths,
    sharegpt,
    sinusoidal,
)


def test_sharegpt_is_reproducible_per_seed_and_varies_across_seeds():
    a, b, c = sharegpt(1, duration_s=200), sharegpt(1, duration_s=200), sharegpt(2, duration_s=200)
    assert np.array_equal(a.arrived_at, b.arrived_at) and np.array_equal(a.prefill, b.prefill)
    assert not np.array_equal(a.prefill[:50], c.prefill[:50])


def test_sharegpt_gaps_are_lognormal_with_sigma_2_and_mean_one_over_qps():
    t = sharegpt(0, qps=7.5, duration_s=20000.0)
    gaps = np.diff(t.arrived_at)
    logs = np.log(gaps)
    assert logs.std() == pytest.approx(2.0, abs=0.05)
    assert logs.mean() == pytest.approx(np.log(1 / 7.5) - 2.0, abs=0.05)  # mu = ln(1/qps) - sigma^2/2
    assert np.all(np.diff(t.arrived_at) >= 0) and t.arrived_at[-1] < 20000.0


def test_recipe_inflates_caps_and_prepends_the_system_prompt(tmp_path, monkeypatch):
    table = tmp_path / "flat.csv"
    table.write_text("num_prefill_tokens,num_decode_tokens\n" + "100,50\n" * 10 + "4000,4000\n")
    monkeypatch.setattr(workloads, "DATA", tmp_path)
    monkeypatch.setitem(workloads.LENGTH_TABLES, "flat-test", ("flat.csv", False))
    rng = np.random.default_rng(0)
    p, d = sample_lengths(rng, 110_000, "flat-test")
    short = p[p < 4000]
    assert set(np.unique(short)) == {142, 1042}  # 42-token system prompt; 10x inflation
    assert np.mean(short == 1042) == pytest.approx(0.05, abs=0.005)
    assert set(np.unique(d)) == {50, 500, 4000, 4096}  # outputs inflated independently, capped at 4,096
    assert np.mean(d[d < 4000] == 500) == pytest.approx(0.05, abs=0.005)
    assert set(np.unique(p[p >= 4000])) == {4042, 4096}  # inflation is capped at 4,096 - 42 before the prompt
    pooled_p, _, pooled_applied = length_table("sharegpt-glia")
    assert pooled_applied and len(pooled_p) == 11760


def test_poisson_rate_and_sinusoidal_shape():
    t = poisson(0, qps=10.0, duration_s=2000.0).arrived_at
    assert len(t) / 2000.0 == pytest.approx(10.0, rel=0.05)
    s = sinusoidal(0, qps=10.0, amplitude=0.8, period_s=1000.0, duration_s=4000.0).arrived_at
    phase = (s % 1000.0) / 1000.0
    peak, trough = np.mean((phase > 0.15) & (phase < 0.35)), np.mean((phase > 0.65) & (phase < 0.85))
    assert peak > 4 * trough  # rate 1.8x vs 0.2x the mean around the crest and the trough


def test_replay_matches_the_trace_file():
    t = replay(0, "sharegpt_6.0.csv")
    assert len(t) == 2086 and t.arrived_at[0] == 0.0
    assert t.prefill[1] == 792 and t.decode[1] == 87
    half = replay(0, "sharegpt_6.0.csv", time_scale=0.5)
    assert half.arrived_at[-1] == pytest.approx(t.arrived_at[-1] / 2)
    with pytest.raises(ValueError, match="not found"):
        replay(0, "nope.csv")


def test_closed_loop_never_has_more_than_k_requests_in_flight():
    cfg = SimulationConfig(ClusterConfig(num_replicas=2, num_blocks=2240),
                           WorkloadSpec("closed_loop", {"users": 6, "think_time_s": 1.0, "duration_s": 120.0}))
    req = Simulation(cfg, POLICIES["llq"]).run().requests
    assert len(req["arrived_at"]) > 30
    events = sorted([(t, 1) for t in req["arrived_at"]] + [(t, -1) for t in req["completed_at"]],
                    key=lambda e: (e[0], e[1]))
    in_flight = np.cumsum([e[1] for e in events])
    assert in_flight.max() <= 6
    assert closed_loop(0, users=6).users == 6


def test_bad_workload_parameters_are_explained():
    with pytest.raises(ValueError, match="qps must be > 0"):
        WorkloadSpec("sharegpt", {"qps": 0}).generate(0)
    with pytest.raises(ValueError, match="unknown workload kind 'bursty'"):
        WorkloadSpec("bursty").generate(0)
    with pytest.raises(ValueError, match="bad parameters for workload 'poisson'"):
        WorkloadSpec("poisson", {"rate": 3}).generate(0)
