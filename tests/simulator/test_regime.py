"""The paper's routing benchmark: the built-in policies rank as the paper reports."""

from __future__ import annotations

import pytest

from glia.simulator.harness.runner import run_benchmark
from glia.simulator.policy.builtin import POLICIES

SEEDS = [0, 1, 2, 3]


@pytest.fixture(scope="module")
def results():
    return {p: run_benchmark(p, "paper-routing", SEEDS, jobs=2) for p in POLICIES}


def test_paper_routing_ranks_policies_as_the_paper_does(results):
    e2e = {p: r.metric("mean_e2e_s") for p, r in results.items()}
    restarts = {p: r.metric("restart_fraction") for p, r in results.items()}
    assert all(r.error is None for r in results.values())
    assert e2e["random"] > e2e["llq"] and e2e["round_robin"] > e2e["llq"]
    assert e2e["hra"] < 0.75 * e2e["llq"]                  # clearly better
    assert restarts["llq"] > 0.10 and restarts["hra"] < 0.03
    assert 25.0 < e2e["llq"] < 60.0                        # the paper's regime: around 40 s


def test_requests_per_seed_match_the_benchmark(results):
    per_seed = results["llq"].metrics["num_requests"]["per_seed"]
    assert all(6000 < n < 9000 for n in per_seed)  # about 7,500 requests in 1,000 s at 7.5 QPS
