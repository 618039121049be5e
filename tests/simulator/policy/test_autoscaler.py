"""The autoscaling layer: control ticks, cold starts, drains and GPU-hours; the platform's clamp and scale-down
stabilisation; built-in and file autoscalers; invalid autoscalers contained like routing policies."""

from __future__ import annotations

import dataclasses

import pytest

from glia.simulator import AutoscalingConfig, ClusterView, Simulation
from glia.simulator.config import SimulationConfig
from glia.simulator.harness.sandbox import run_seeds
from glia.simulator.policy.builtin import POLICIES
from glia.simulator.policy.builtin.autoscalers import (
    QueueLengthAutoscaler,
    ThroughputThresholdAutoscaler,
    make_builtin_autoscaler,
)
from glia.simulator.presets import get_preset
from glia.simulator.workloads import WorkloadSpec


def _short(minutes: float) -> SimulationConfig:
    base = get_preset("diurnal-autoscale")
    return base.replace(workload=WorkloadSpec("sinusoidal", {**base.workload.params, "duration_s": 60.0 * minutes}))


@pytest.fixture(scope="module")
def diurnal():
    cfg = _short(40)
    return cfg, Simulation(cfg, POLICIES["llq"], seed=0).run()


def test_replicas_start_after_a_cold_start_and_drain_when_load_falls(diurnal):
    cfg, run = diurnal
    cold = cfg.autoscaler.cold_start_s
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


def view(**fields) -> ClusterView:
    base = dict(now=0.0, serving=2, starting=0, draining=0, waiting=0, running=5, kv_utilisation=0.5,
                decode_tokens_per_s=100.0, min_replicas=1, max_replicas=16)
    return ClusterView(**{**base, **fields})


def test_threshold_autoscaler_decisions_and_cooldown():
    a = ThroughputThresholdAutoscaler(None, high_tokens_per_s=100, low_tokens_per_s=10, cooldown_s=60)
    assert a.desired_replicas(view(now=0, decode_tokens_per_s=150)) == 3
    assert a.desired_replicas(view(now=30, decode_tokens_per_s=150)) == 2  # cooling down
    assert a.desired_replicas(view(now=100, decode_tokens_per_s=5)) == 1
    with pytest.raises(ValueError, match="unknown autoscaler 'magic'"):
        make_builtin_autoscaler("magic", {})
    with pytest.raises(ValueError, match="low < high"):
        make_builtin_autoscaler("threshold", {"low_tokens_per_s": 5, "high_tokens_per_s": 1})
    with pytest.raises(ValueError, match="bad autoscaler parameters"):
        make_builtin_autoscaler("queue", {"target": 5})


def test_the_queue_autoscaler_follows_the_hpa_formula_within_its_tolerance():
    a = QueueLengthAutoscaler(None, target_waiting_per_replica=5)  # HPA: scale-downs stabilised over 300 s
    assert a.desired_replicas(view(serving=4, waiting=40)) == 8        # 10 per replica: twice the target
    assert a.desired_replicas(view(serving=4, waiting=21)) == 4        # within 10 % of the target
    assert a.desired_replicas(view(serving=4, waiting=0)) == 4         # held by the last 300 s of advice
    assert a.desired_replicas(view(now=400.0, serving=4, waiting=0)) == 1  # nothing waits: down to the minimum


def test_settings_dicts_and_legacy_keys_become_the_platform_and_the_policy_s_parameters():
    a = AutoscalingConfig.from_dict({"kind": "threshold", "high_tokens_per_s": 900.0, "min_replicas": 2,
                                     "cold_start_s": 60.0})
    assert (a.policy, a.params, a.min_replicas, a.cold_start_s) == ("threshold", {"high_tokens_per_s": 900.0}, 2,
                                                                    60.0)
    assert SimulationConfig(autoscaler={"policy": "queue"}).autoscaler.policy == "queue"
    assert SimulationConfig.from_dict(SimulationConfig(autoscaler=a).to_dict()).autoscaler == a
    with pytest.raises(ValueError, match="min_replicas <= max_replicas"):
        AutoscalingConfig(min_replicas=4, max_replicas=2)
    with pytest.raises(ValueError, match="no autoscaling platform"):
        get_preset("paper-routing").with_stack(autoscaler="queue")


# asks for wild counts, and records the views it was given
GREEDY = """from glia.simulator import BaseAutoscaler

VIEWS = []

class Greedy(BaseAutoscaler):
    def desired_replicas(self, view):
        VIEWS.append(view)
        return 1000 if len(VIEWS) % 2 else -5
"""


def test_the_platform_clamps_a_file_autoscaler_and_holds_scale_downs_for_the_window(tmp_path):
    # (it flaps between starting and cancelling replicas: the run must still end when the requests are done)
    path = tmp_path / "greedy.py"
    path.write_text(GREEDY)
    cfg = _short(10)
    cfg = cfg.replace(autoscaler=dataclasses.replace(cfg.autoscaler, policy=str(path), params={}))
    sim = Simulation(cfg, POLICIES["llq"], seed=0)
    run = sim.run()
    views = sim.autoscaler.desired_replicas.__globals__["VIEWS"]
    alive = [v.serving + v.starting for v in views]
    assert max(alive) == cfg.autoscaler.max_replicas and min(alive[1:]) == cfg.autoscaler.min_replicas
    assert {"in_flight", "arrivals_per_s", "replicas"} <= set(dir(views[-1]))
    assert len(views[-1].replicas) == views[-1].serving
    held = cfg.replace(autoscaler=dataclasses.replace(cfg.autoscaler, scale_down_stabilisation_s=300.0))
    steady = Simulation(held, POLICIES["llq"], seed=0).run()
    assert sum(k == "drain" for _, k, _ in steady.scaling) < sum(k == "drain" for _, k, _ in run.scaling)


HEADER = ("from glia.simulator import BaseAutoscaler\n\nclass A(BaseAutoscaler):\n"
          "    def desired_replicas(self, view):\n")
BAD = {
    "exception": ("        return view.no_such_field\n", "AttributeError"),
    "bad_return": ("        return 2.5\n", "returned float 2.5"),
    "timeout": ("        while True:\n            pass\n", "did not finish within"),
    "load_error": (None, "no subclass of BaseAutoscaler"),
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_an_invalid_autoscaler_is_contained_with_a_structured_error(kind, tmp_path):
    body, message = BAD[kind]
    path = tmp_path / f"{kind}.py"
    path.write_text(HEADER + body if body else "class A:\n    pass\n")
    [outcome] = run_seeds(_short(3).with_stack(autoscaler=str(path)), "llq", [0], timeout_s=3.0, memory_mb=2048)
    assert outcome.summary is None
    assert outcome.error["kind"] == kind, outcome.error
    assert message in outcome.error["message"]
