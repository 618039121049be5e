"""The measured execution model: fitted to probe timings, plugged into the simulator where a device roofline was."""

from __future__ import annotations

import pytest

from glia.simulator import Simulation
from glia.simulator.config import SimulationConfig
from glia.simulator.measured import MeasuredClusterConfig, ServiceModel
from glia.simulator.metrics import request_metrics
from glia.simulator.policy.loader import load_policy
from glia.simulator.workloads import WorkloadSpec

TRUE = ServiceModel(overhead_s=0.02, per_token_s=0.004, per_context_token_s=2e-5)


def test_fit_recovers_the_coefficients_of_a_linear_backend():
    prefill = [(p, TRUE.prefill_time(p, 512)) for p in (16, 200, 700, 1500)]
    decode = [(c, TRUE.decode_step(c)) for c in (50, 400, 1200)]
    fitted = ServiceModel.fit(prefill, decode, chunk_size=512)
    assert fitted.overhead_s == pytest.approx(0.02, rel=1e-3)
    assert fitted.per_token_s == pytest.approx(0.004, rel=1e-3)
    assert fitted.per_context_token_s == pytest.approx(2e-5, rel=1e-3)


def test_fit_keeps_every_coefficient_non_negative_on_noisy_data():
    fitted = ServiceModel.fit([(10, 0.01), (1000, 2.0)], [(20, 0.012), (900, 0.011)])
    assert min(fitted.overhead_s, fitted.per_token_s, fitted.per_context_token_s) >= 0
    assert fitted.per_token_s > 0


def test_a_request_alone_on_a_measured_replica_takes_prefill_then_one_step_per_token():
    cluster = MeasuredClusterConfig.from_service(TRUE, num_replicas=1, num_blocks=128, batch_size_cap=1,
                                                 chunk_size=512, watermark_fraction=0.0)
    config = SimulationConfig(cluster, WorkloadSpec("requests", {"requests": [[0.0, 300, 20]]}))
    run = Simulation(config, load_policy("llq")).run()
    req = request_metrics(run, cluster.execution_model(), cluster.chunk_size)
    expected_ttft = TRUE.prefill_time(300, 512)
    expected = expected_ttft + sum(TRUE.decode_step(301 + j) for j in range(19))
    assert req["ttft_s"][0] == pytest.approx(expected_ttft, rel=1e-6)
    assert req["e2e_s"][0] == pytest.approx(expected, rel=1e-6)
    assert req["slowdown"][0] == pytest.approx(1.0, rel=1e-6)


def test_batch_size_one_serves_requests_one_after_another():
    cluster = MeasuredClusterConfig.from_service(TRUE, num_replicas=1, num_blocks=128, batch_size_cap=1,
                                                 chunk_size=512, watermark_fraction=0.0)
    config = SimulationConfig(cluster, WorkloadSpec("requests", {"requests": [[0.0, 100, 10], [0.0, 100, 10]]}))
    run = Simulation(config, load_policy("llq")).run()
    first, second = sorted(run.requests["completed_at"])
    assert run.requests["scheduled_at"].max() == pytest.approx(first)
    assert second == pytest.approx(2 * first, rel=1e-6)


def test_a_measured_cluster_refuses_to_guess_its_kv_capacity():
    with pytest.raises(ValueError, match="num_blocks"):
        MeasuredClusterConfig(num_blocks=None)
