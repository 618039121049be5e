"""The views a policy sees in the router: the simulator's request and replica surface, read-only, same errors."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from glia.graph.serving.views import ServedReplica, ServedRequest
from glia.simulator.policy.loader import load_policy
from glia.simulator.replica import ReplicaAPI, ReplicaConfig, ReplicaHandle, ReplicaScheduler
from glia.simulator.request import PolicyViolation, Request

POLICY_FILE = Path(__file__).parents[2] / "policies" / "vidur_style_hra.py"


def _properties(cls) -> set[str]:
    return {n for n in dir(cls) if isinstance(getattr(cls, n, None), property)}


def test_a_request_in_the_router_has_exactly_the_simulator_requests_properties():
    assert _properties(ServedRequest) == _properties(Request)


def test_a_backend_shows_every_property_a_simulated_replica_shows_a_policy():
    documented = {"replica_id", "pending_queue", "_request_queue", "active_queue", "_active_queue",
                  "num_pending_requests", "num_active_requests", "num_allocated_blocks", "_num_allocated_blocks",
                  "num_blocks", "block_size", "memory_usage_percent", "free_blocks", "_config"}
    assert documented == {n for n in vars(ReplicaAPI) if not n.startswith("__") and n not in ("_state", "_blocks")}
    sim = ReplicaHandle(ReplicaScheduler(0, ReplicaConfig(64), None, None, None, None, {}))  # what a policy gets
    real = ServedReplica(0, ReplicaConfig(64))
    for name in documented:
        assert hasattr(sim, name) and hasattr(real, name), name
    assert real._config.block_size == sim._config.block_size == 16


def test_request_state_is_read_only_and_the_decode_length_hidden():
    r = ServedRequest(3, 1.5, 100)
    with pytest.raises(PolicyViolation) as err:
        r.num_prefill_tokens = 5
    assert err.value.kind == "mutated_request"
    with pytest.raises(PolicyViolation) as err:
        _ = r.num_decode_tokens
    assert err.value.kind == "hidden_field"
    assert (r.id, r.arrived_at, r.num_prefill_tokens, r.num_processed_tokens, r.replica_id) == (3, 1.5, 100, 0, -1)


def test_processed_tokens_count_the_prompt_once_the_first_token_has_streamed():
    r = ServedRequest(0, 0.0, 100)
    assert not r.is_prefill_complete and r.num_processed_tokens == 0
    r._r_generated = 1
    assert r.is_prefill_complete and r.num_processed_tokens == 101


def test_allocated_blocks_are_estimated_from_the_active_requests_only():
    rep = ServedReplica(0, ReplicaConfig(100, block_size=16))
    waiting, started, streaming = ServedRequest(0, 0, 40), ServedRequest(1, 0, 40), ServedRequest(2, 0, 40)
    for k, r in enumerate((waiting, started, streaming)):
        r._r_routed_at = float(k)
        rep.add(r)
    started._r_started = streaming._r_started = True
    streaming._r_generated = 10
    rep.arrange(None)
    assert rep.pending_queue == [waiting] and rep.active_queue == [started, streaming]
    assert rep.num_allocated_blocks == 3 + 4  # ceil(40/16) + ceil(50/16)
    assert rep.memory_usage_percent == pytest.approx(7.0)


def test_a_backend_reporting_waiting_requests_keeps_that_many_of_the_youngest_silent_ones_pending():
    rep = ServedReplica(0, ReplicaConfig(100))
    reqs = [ServedRequest(i, 0, 10) for i in range(4)]
    for k, r in enumerate(reqs):
        r._r_routed_at, r._r_started = float(k), True
        rep.add(r)
    reqs[0]._r_generated = 3
    rep.arrange(2)
    assert rep.pending_queue == reqs[2:] and rep.active_queue == reqs[:2]


@pytest.mark.parametrize("policy", ["round_robin", "random", "llq", "lor", "hra", str(POLICY_FILE)])
def test_every_built_in_policy_and_a_vidur_style_file_run_unchanged_on_the_views(policy):
    views = {i: ServedReplica(i, ReplicaConfig(128)) for i in range(2)}
    sched = load_policy(policy)(SimpleNamespace(cluster=None, seed=0), views)
    for i in range(4):
        sched._request_queue.append(ServedRequest(i, 0.1 * i, 50 + 10 * i))
    pairs = sched.schedule()
    assert pairs and all(rid in views and type(r) is ServedRequest for rid, r in pairs)
    assert len({r.id for _, r in pairs}) == len(pairs)
