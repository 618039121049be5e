"""The hardened mode: the policy in a process of its own, driven over a pipe, gives the normal mode's results seed for
seed (built-in policies, policy files, autoscaling, a closed loop, a policy that keeps per-request state), and the
same errors; a policy that behaves differently when measured hardened is caught by the comparison."""

from __future__ import annotations

import numpy as np
import pytest

from glia.simulator import get_preset
from glia.simulator.harness.runner import compare, remeasure, run_benchmark
from glia.simulator.harness.sandbox import run_seeds
from glia.simulator.workloads import WorkloadSpec
from tests.simulator.harness.test_sandbox import BAD, CONFIG, HEADER
from tests.support.helpers import seed_isolation

SHORT = get_preset("paper-routing-short").replace(
    workload=WorkloadSpec("sharegpt", {"qps": 7.5, "duration_s": 120.0}))
AUTOSCALED = get_preset("diurnal-autoscale").replace(
    workload=WorkloadSpec("sinusoidal", {"qps": 12.0, "amplitude": 0.8, "period_s": 300.0, "duration_s": 600.0}))
CLOSED = get_preset("closed-loop").replace(
    workload=WorkloadSpec("closed_loop", {"users": 48, "think_time_s": 5.0, "duration_s": 120.0}))

CACHING = HEADER.replace("    def schedule(self):\n", '''    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.first_seen = {}   # request object -> when this policy first saw it
        self.done = []         # requests it routed, read again later (also after they completed)

    def schedule(self):
''') + '''        for r in self._request_queue:
            self.first_seen.setdefault(r, len(self.first_seen))
        learned = sum(r.num_processed_tokens for r in self.done[-50:])
        self._request_queue.sort(key=lambda r: (self.first_seen[r] + learned) % 7)
        out = []
        while self._request_queue:
            r = self._request_queue.pop(0)
            rid = min(self._replica_schedulers, key=lambda i: (self._replica_schedulers[i].num_allocated_blocks,
                                                                   self._replica_schedulers[i].free_blocks, i))
            out.append((rid, r))
            self.done.append(r)
        return out
'''
# behaves well only when it sees the hardened mode's objects
TWO_FACED = HEADER + '''        hardened = "_v_id" in dir(self._request_queue[0]) if self._request_queue else False
        out = [(0 if not hardened else r.id % 4, r) for r in self._request_queue]
        self._request_queue.clear()
        return out
'''


def same(a, b) -> None:
    assert a.error is None and b.error is None, (a.error, b.error)
    assert set(a.summary) == set(b.summary)
    for k in a.summary:
        assert a.summary[k] == b.summary[k] or (np.isnan(a.summary[k]) and np.isnan(b.summary[k])), k
    for col in ("completed_at", "first_token_at", "replica_id", "num_restarts", "routed_at"):
        assert np.array_equal(a.requests[col], b.requests[col]), col
    assert a.events == b.events and a.samples == b.samples and a.scaling == b.scaling


@pytest.mark.parametrize("policy", ["llq", "hra", "random", "round_robin", "lor"])
def test_built_in_policies_give_identical_results_hardened(policy):
    normal, hard = run_seeds(SHORT, policy, [1]), run_seeds(SHORT, policy, [1], hardened=True)
    same(normal[0], hard[0])
    assert hard[0].isolation == seed_isolation()


def test_policy_files_autoscaling_and_closed_loops_give_identical_results_hardened(tmp_path):
    vidur = "tests/policies/vidur_style_hra.py"  # reads num_allocated_blocks mid-run: the replicas it read resync
    caching = tmp_path / "caching.py"
    caching.write_text(CACHING)
    for config, policy in ((SHORT, vidur), (SHORT, str(caching)), (AUTOSCALED, "llq"), (CLOSED, "hra")):
        normal, hard = run_seeds(config, policy, [2], jobs=1), run_seeds(config, policy, [2], hardened=True)
        same(normal[0], hard[0])


def test_the_autoscaled_run_does_scale():
    [hard] = run_seeds(AUTOSCALED, "llq", [2], hardened=True)
    assert {kind for _, kind, _ in hard.scaling} >= {"start", "ready", "drain", "release"}


@pytest.mark.parametrize("kind", ["exception", "invalid_replica", "routed_twice", "never_routed", "mutated_request",
                                  "hidden_field", "bad_return", "crashed"])
def test_a_bad_policy_gives_the_same_error_hardened(kind, tmp_path):
    path = tmp_path / f"{kind}.py"
    path.write_text(HEADER + BAD[kind])
    [normal] = run_seeds(CONFIG, str(path), [0], timeout_s=120)  # a crash takes seconds; on a loaded machine, more
    [hard] = run_seeds(CONFIG, str(path), [0], timeout_s=120, hardened=True)
    assert normal.error["kind"] == kind and hard.error == normal.error


def test_a_policy_that_behaves_differently_when_measured_hardened_is_flagged(tmp_path):
    path = tmp_path / "two_faced.py"
    path.write_text(TWO_FACED)
    normal = run_benchmark(str(path), SHORT, 2)
    hard, verdict = remeasure(normal, SHORT)
    assert not verdict["agree"] and "mean_e2e_s" in verdict["differences"]
    assert verdict["differences"]["mean_e2e_s"][0] > verdict["differences"]["mean_e2e_s"][1]
    assert compare(normal, normal)["agree"]


STATEFUL_BATCH = '''from glia.simulator import BaseBatchPolicy


class B(BaseBatchPolicy):
    def __init__(self, config):
        super().__init__(config)
        self.seen = {}   # request object -> order first seen: views are kept across calls

    def next_index(self, pending, replica):
        for r in pending:
            self.seen.setdefault(r, len(self.seen))
        if replica.free_blocks < replica.num_blocks // 20 and replica.active_queue:
            return None
        late = replica.now > 60 and replica.num_allocated_blocks > 0
        return min(range(len(pending)), key=lambda i: (pending[i].num_prefill_tokens if late else self.seen[pending[i]],
                                                       pending[i].arrived_at))
'''
PROPORTIONAL = '''import math

from glia.simulator import BaseAutoscaler


class A(BaseAutoscaler):
    def desired_replicas(self, view):
        worst = max((r.pending + r.active for r in view.replicas), default=0)
        return math.ceil((view.in_flight + worst) / 24 + self.rng.random() * 0.5)
'''


def test_batch_policy_and_autoscaler_files_give_identical_results_hardened(tmp_path):
    batch, scaler = tmp_path / "batch.py", tmp_path / "scaler.py"
    batch.write_text(STATEFUL_BATCH)
    scaler.write_text(PROPORTIONAL)
    vidur = "tests/policies/vidur_style_hra.py"
    for config, router in ((SHORT.with_stack(batch=str(batch)), "llq"),
                           (AUTOSCALED.with_stack(autoscaler=str(scaler)), "llq"),
                           (AUTOSCALED.with_stack(batch=str(batch), autoscaler=str(scaler)), vidur)):
        normal, hard = run_seeds(config, router, [2], jobs=1), run_seeds(config, router, [2], hardened=True)
        same(normal[0], hard[0])
        assert hard[0].isolation == seed_isolation()


def test_a_bad_batch_policy_or_autoscaler_gives_the_same_error_hardened(tmp_path):
    batch, scaler = tmp_path / "batch.py", tmp_path / "scaler.py"
    batch.write_text(STATEFUL_BATCH.replace("        return min(", "        return pending[0].num_decode_tokens\n"
                                            "        return min("))
    scaler.write_text(PROPORTIONAL.replace("return math.ceil(", "return 0.5 + math.ceil("))
    for config, kind in ((SHORT.with_stack(batch=str(batch)), "hidden_field"),
                         (AUTOSCALED.with_stack(autoscaler=str(scaler)), "bad_return")):
        [normal] = run_seeds(config, "llq", [0], timeout_s=20)
        [hard] = run_seeds(config, "llq", [0], timeout_s=20, hardened=True)
        assert normal.error["kind"] == kind and hard.error == normal.error


def test_remeasuring_a_run_keeps_its_batch_policy_and_autoscaler(tmp_path):
    scaler = tmp_path / "scaler.py"
    scaler.write_text(PROPORTIONAL)
    normal = run_benchmark("llq", AUTOSCALED, [1], autoscaler=str(scaler))
    hard, verdict = remeasure(normal, AUTOSCALED)
    assert hard.autoscaler == str(scaler) and verdict["agree"], verdict


def test_a_batch_policy_that_behaves_differently_when_measured_hardened_is_flagged(tmp_path):
    path = tmp_path / "two_faced_batch.py"
    path.write_text('''from glia.simulator import BaseBatchPolicy


class B(BaseBatchPolicy):
    def next_index(self, pending, replica):
        return len(pending) - 1 if type(pending[0]).__name__ == "RequestView" else 0
''')
    normal = run_benchmark("llq", SHORT, 1, batch=str(path))
    hard, verdict = remeasure(normal, SHORT)
    assert hard.batch_policy == str(path) and not verdict["agree"] and "mean_ttft_s" in verdict["differences"]


def test_a_router_file_on_the_fp8_closed_loop_gives_identical_results_hardened(tmp_path):
    # the FP8 execution model's times are numpy scalars; the policy process must still get plain numbers only
    base = get_preset("slo-prefill")
    config = base.replace(workload=WorkloadSpec(base.workload.kind, {**base.workload.params, "users": 40,
                                                                     "duration_s": 15.0}))
    path = tmp_path / "prefill_work.py"
    path.write_text(HEADER.replace("    def schedule(self):\n", '''    def load(self, rs):
        work = sum(r.num_prefill_tokens for r in rs.pending_queue)
        return work + sum(r.num_prefill_tokens - r.num_processed_tokens for r in rs.active_queue
                          if not r.is_prefill_complete)

    def schedule(self):
''') + '''        out = []
        while self._request_queue:
            r = self._request_queue.pop(0)
            out.append((min(self._replica_schedulers, key=lambda i: self.load(self._replica_schedulers[i])), r))
        return out
''')
    normal, hard = run_seeds(config, str(path), [0], jobs=1), run_seeds(config, str(path), [0], hardened=True)
    same(normal[0], hard[0])
