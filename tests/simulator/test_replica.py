"""The replica scheduler's mechanisms: block accounting, chunked prefill, the token budget, preemption with
recompute, the batch-size cap, the admission watermark, batch ordering, and skipped decode runs."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import pytest

from glia.simulator import Simulation
from glia.simulator.clock import Clock, Log
from glia.simulator.execution import ExecutionModel
from glia.simulator.policy.builtin import POLICIES
from glia.simulator.policy.builtin.batch_policies import get_batch_policy
from glia.simulator.policy.builtin.llq import LLQGlobalScheduler
from glia.simulator.presets import get_preset
from glia.simulator.replica import ReplicaConfig, ReplicaScheduler
from glia.simulator.request import Request
from tests.support.helpers import small_config

MODEL = ExecutionModel("A10", "Llama-3-8B")


def make_replica(num_blocks=64, chunk=8192, cap=128, watermark=0.0, fast=False, order="fcfs"):
    clock = Clock()
    rep = ReplicaScheduler(0, ReplicaConfig(num_blocks, 16, chunk, cap, watermark), MODEL, get_batch_policy(order),
                           clock, Log(), {}, fast=fast)
    return rep, clock


def request(rep, rid, arrived_at, prompt, decode):
    """A request for ``rep``, its total length registered where the engine keeps it (not on the request)."""
    rep._totals[rid] = prompt + decode
    return Request(rid, arrived_at, prompt)


def drive(rep, clock, each=None):
    """Run the replica to idle, calling ``each()`` at every iteration boundary; return completed requests."""
    done = []
    while not rep.is_idle:
        clock.now = rep.next_event_time
        done += rep.on_segment_end()
        if each:
            each()
    return done


def expected_blocks(rep) -> int:
    """Blocks the active requests must hold for the iteration that starts now (vLLM's accounting)."""
    total = 0
    for r in rep.active:
        n = r._r_processed()
        total += math.ceil(n / 16) if r._r_decoding else math.ceil(r._r_prompt / 16)
    return total


def test_blocks_follow_prompt_then_one_per_16_decoded_tokens():
    rep, clock = make_replica()
    a, b = request(rep, 0, 0.0, 40, 30), request(rep, 1, 0.0, 17, 50)
    rep.enqueue(a, 0.0)
    rep.enqueue(b, 0.0)
    assert rep.alloc == 3  # a's prompt, admitted at once; b waits for the next iteration boundary
    def check():
        assert rep.alloc == expected_blocks(rep)

    done = drive(rep, clock, check)
    assert [r._r_id for r in done] == [0, 1]
    assert rep.alloc == 0 and not rep.active
    assert all(r._r_n == rep._totals[r._r_id] for r in done)


def test_chunked_prefill_takes_the_prompt_in_budget_sized_chunks():
    rep, clock = make_replica(num_blocks=200, chunk=512)
    r = request(rep, 0, 0.0, 1300, 3)
    rep.enqueue(r, 0.0)
    chunks = []
    while not r._r_decoding:
        chunks.append([q for _, q in rep._plan])
        clock.now = rep.next_event_time
        rep.on_segment_end()
    assert chunks == [[512], [512], [276]]
    expected, p = 0.0, 0
    for q in (512, 512, 276):
        expected += MODEL.iteration_time(q, 1 if p + q == 1300 else 0, 1, q * (p + (q + 1) / 2), p + q)
        p += q
    assert r._r_t_first == pytest.approx(expected, rel=1e-12)
    assert r._r_n == 1301  # the last prefill chunk samples the first output token


def test_decoding_requests_take_their_share_of_the_token_budget():
    rep, clock = make_replica(chunk=100)
    rep.enqueue(request(rep, 0, 0.0, 10, 50), 0.0)
    clock.now = rep.next_event_time
    rep.on_segment_end()  # request 0 now decodes
    rep.enqueue(request(rep, 1, clock.now, 500, 5), clock.now)
    clock.now = rep.next_event_time
    rep.on_segment_end()
    assert [(r._r_id, q) for r, q in rep._plan] == [(1, 99)]


def test_youngest_request_is_preempted_recomputed_and_counted():
    # 30 blocks: both requests fit at admission (4 + 4 blocks) but not as they grow to 23 blocks each
    cfg = small_config([(0.0, 64, 300), (0.001, 64, 300)], num_blocks=30)
    run = Simulation(cfg, POLICIES["round_robin"]).run()
    req = run.requests
    assert req["num_restarts"][0] == 0
    assert req["num_restarts"][1] >= 1
    preempts = [e for e in run.events if e[1] == "preempt"]
    assert preempts and all(e[2] == 1 for e in preempts)
    lost = preempts[0][4]
    assert lost > 64 and req["wasted_tokens"][1] == sum(e[4] for e in preempts)
    readmits = [e for e in run.events if e[1] == "admit" and e[2] == 1]
    assert readmits[1][4] == lost  # recomputed with its processed tokens as the new prompt
    assert np.all(req["completed_at"] > 0)
    assert run.num_preemptions == len(preempts)


def test_a_lone_youngest_request_preempts_itself_when_no_block_is_free():
    rep, clock = make_replica(num_blocks=6)
    a, b = request(rep, 0, 0.0, 32, 40), request(rep, 1, 0.0, 47, 40)  # 2 + 3 blocks; b needs a 4th first
    rep.enqueue(a, 0.0)
    rep.enqueue(b, 0.0)
    drive(rep, clock)
    assert a._r_restarts == 0 and b._r_restarts >= 1
    assert a._r_t_done < b._r_t_done


def test_batch_size_cap_bounds_the_active_requests():
    rep, clock = make_replica(cap=2)
    for i in range(5):
        rep.enqueue(request(rep, i, 0.0, 20, 20), 0.0)
    sizes = []
    done = drive(rep, clock, lambda: sizes.append(len(rep.active)))
    assert len(done) == 5 and max(sizes) == 2


def test_watermark_keeps_blocks_free_at_admission():
    two = [(0.0, 720, 10), (0.0, 720, 10)]  # 45 blocks each
    loose = Simulation(small_config(two, num_blocks=100, watermark=0.05), POLICIES["llq"]).run().requests
    tight = Simulation(small_config(two, num_blocks=100, watermark=0.11), POLICIES["llq"]).run().requests
    assert loose["scheduled_at"][1] < loose["completed_at"][0]  # admitted at the next iteration boundary
    assert tight["scheduled_at"][1] >= tight["completed_at"][0]


def test_a_request_that_can_never_fit_is_refused_up_front():
    with pytest.raises(ValueError, match="could never complete"):
        Simulation(small_config([(0.0, 2000, 100)], num_blocks=100), POLICIES["llq"]).run()


def test_shortest_prefill_first_batch_ordering():
    rep, clock = make_replica(num_blocks=40, order="spf")
    rep.enqueue(request(rep, 0, 0.0, 400, 10), 0.0)  # 25 blocks: fills the replica
    for i, p in enumerate((300, 20, 100), start=1):
        rep.enqueue(request(rep, i, 0.0, p, 5), 0.0)
    order = []
    rep._log.add = lambda t, kind, rid, rep_id, value=0: order.append(rid) if kind == "admit" else None
    drive(rep, clock)
    assert order == [2, 3, 1]


class Probe(LLQGlobalScheduler):
    """llq routing that records what it sees of each replica at every call."""

    seen: ClassVar[list] = []

    def schedule(self):
        for rid, rs in sorted(self._replica_schedulers.items()):
            Probe.seen.append((rid, rs.num_allocated_blocks, sum(r.num_processed_tokens for r in rs.active_queue)))
        return super().schedule()


@pytest.mark.parametrize("policy,min_preemptions", [("llq", 100), ("hra", 0)])
def test_skipped_decode_runs_give_the_same_results_as_every_iteration(policy, min_preemptions):
    cfg = get_preset("paper-routing-short")
    fast = Simulation(cfg, POLICIES[policy], seed=3, fast=True).run()
    slow = Simulation(cfg, POLICIES[policy], seed=3, fast=False).run()
    assert np.allclose(fast.requests["completed_at"], slow.requests["completed_at"], rtol=1e-9, atol=1e-9)
    assert np.array_equal(fast.requests["num_restarts"], slow.requests["num_restarts"])
    assert fast.num_preemptions == slow.num_preemptions >= min_preemptions


def test_a_policy_reading_state_mid_run_sees_what_step_by_step_shows():
    cfg = get_preset("paper-routing-short")
    views = []
    for fast in (True, False):
        Probe.seen = []
        Simulation(cfg, Probe, seed=1, fast=fast).run()
        views.append(Probe.seen)
    assert len(views[0]) == len(views[1]) > 1000
    assert views[0] == views[1]
