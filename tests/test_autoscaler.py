"""The autoscaling hook: control ticks, cold starts, drains and GPU-hours."""

from __future__ import annotations

import pytest

from glia.simulator import Simulation
from glia.simulator.autoscaler import ClusterView, ThroughputThresholdAutoscaler, make_autoscaler
from glia.simulator.policies import POLICIES
from glia.simulator.presets import get_preset
from glia.simulator.workloads import WorkloadSpec


@pytest.fixture(scope="module")
def diurnal():
    base = get_preset("diurnal-autoscale")
    cfg = base.replace(workload=WorkloadSpec("sinusoidal", {**base.workload.params, "duration_s": 2400.0}))
    return cfg, Simulation(cfg, POLICIES["llq"], seed=0).run()


def test_replicas_start_after_a_cold_start_and_drain_when_load_falls(diurnal):
    cfg, run = diurnal
    cold = cfg.autoscaler.get("cold_start_s", 90.0)
    starts = {rid: t for t, kind, rid in run.scaling if kind == "start"}
    ready = {rid: t for t, kind, rid in run.scaling if kind == "ready"}
    assert starts and any(kind == "drain" for _, kind, _ in run.scaling)
    assert all(ready[rid] == pytest.approx(starts[rid] + cold) for rid in ready)
    # started replicas take requests, but none before they are ready
    served = 0
    for rid, t_ready in ready.items():
        routed = run.requests["routed_at"][run.requests["replica_id"] == rid]
        assert len(routed) == 0 or routed.min() >= t_ready
        served += len(routed)
    assert served > 1000


def test_gpu_hours_count_each_replica_from_request_to_release(diurnal):
    cfg, run = diurnal
    fixed_max = 8 * run.makespan_s / 3600.0
    assert 2 * 2400.0 / 3600.0 * 0.5 < run.gpu_hours < fixed_max
    assert run.replica_seconds == pytest.approx(run.gpu_hours * 3600.0)


def test_threshold_autoscaler_decisions_and_cooldown():
    a = ThroughputThresholdAutoscaler(high_tokens_per_s=100, low_tokens_per_s=10, cooldown_s=60)
    view = dict(serving=2, starting=0, draining=0, waiting=0, running=5, kv_utilisation=0.5)
    assert a.desired_replicas(ClusterView(now=0, decode_tokens_per_s=150, **view)) == 3
    assert a.desired_replicas(ClusterView(now=30, decode_tokens_per_s=150, **view)) == 2  # cooling down
    assert a.desired_replicas(ClusterView(now=100, decode_tokens_per_s=5, **view)) == 1
    with pytest.raises(ValueError, match="unknown autoscaler 'magic'"):
        make_autoscaler({"kind": "magic"})
    with pytest.raises(ValueError, match="low < high"):
        make_autoscaler({"kind": "threshold", "low_tokens_per_s": 5, "high_tokens_per_s": 1})
