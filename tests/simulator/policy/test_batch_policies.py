"""The batch (admission) layer: built-in orders, policies from files, the replica asking again only when its queues
change (so stepping and skipping runs agree for any policy), and invalid policies contained like routing policies."""

from __future__ import annotations

import numpy as np
import pytest

from glia.simulator import Simulation
from glia.simulator.harness.sandbox import run_seeds
from glia.simulator.policy.builtin import POLICIES
from glia.simulator.policy.loader import PolicyLoadError, load_policy
from tests.support.helpers import small_config

# bursts of long and short prompts on one small replica: admission order and memory both matter
REQUESTS = [(0.01 * i, 400 if i % 3 == 0 else 40, 60 + 7 * (i % 5)) for i in range(40)]
ONE = small_config(REQUESTS, num_blocks=120)
TWO = small_config([(i * 0.05, 30 + i, 20) for i in range(40)], num_replicas=2, num_blocks=200)

SPF_FILE = """from glia.simulator import BaseBatchPolicy

class ShortestFirst(BaseBatchPolicy):
    def next_index(self, pending, replica):
        return min(range(len(pending)), key=lambda i: (pending[i].num_prefill_tokens, pending[i].arrived_at))
"""

# holds admission while more than half the cache is in use, and records what it was shown
HOLDING_FILE = """from glia.simulator import BaseBatchPolicy

SEEN = []

class Holding(BaseBatchPolicy):
    def next_index(self, pending, replica):
        SEEN.append((replica.now, len(pending), replica.num_active_requests, type(pending).__name__))
        if replica.num_active_requests and replica.num_allocated_blocks > replica.num_blocks / 2:
            return None
        return len(pending) - 1
"""


def _run(config, batch: str, fast: bool = True, sims: list | None = None):
    sim = Simulation(config.with_stack(batch=batch), POLICIES["llq"], seed=0, fast=fast)
    if sims is not None:
        sims.append(sim)
    return sim.run()


def test_a_policy_file_runs_exactly_like_the_built_in_it_reimplements(tmp_path):
    path = tmp_path / "spf.py"
    path.write_text(SPF_FILE)
    builtin, mine = _run(ONE, "spf"), _run(ONE, str(path))
    assert np.array_equal(builtin.requests["completed_at"], mine.requests["completed_at"])
    assert not np.array_equal(builtin.requests["completed_at"], _run(ONE, "fcfs").requests["completed_at"])


def test_a_policy_that_declines_is_asked_again_when_the_queues_change_and_stepping_agrees(tmp_path):
    path = tmp_path / "holding.py"
    path.write_text(HOLDING_FILE)
    sims: list = []
    fast, slow = _run(ONE, str(path), sims=sims), _run(ONE, str(path), fast=False)
    assert np.all(~np.isnan(fast.requests["completed_at"]))
    assert np.allclose(fast.requests["completed_at"], slow.requests["completed_at"], rtol=1e-9)  # float sums
    assert fast.num_preemptions < _run(ONE, "fcfs").num_preemptions
    assert np.array_equal(fast.requests["num_restarts"], slow.requests["num_restarts"])
    seen = sims[0]._batch_cls.next_index.__globals__["SEEN"]
    assert seen and all(kind == "tuple" for *_, kind in seen)   # a copy: the replica's queue cannot be reordered


def test_the_loader_knows_each_layer_and_says_what_is_wrong(tmp_path):
    assert load_policy("spf", "batch").__name__ == "ShortestPrefillFirst"
    with pytest.raises(PolicyLoadError, match="not a built-in batch policy"):
        load_policy("llq", "batch")
    router = tmp_path / "router.py"
    router.write_text("from glia.simulator import BaseGlobalScheduler\nclass R(BaseGlobalScheduler):\n"
                      "    def schedule(self): return []\n")
    with pytest.raises(PolicyLoadError, match="no subclass of BaseBatchPolicy"):
        load_policy(str(router), "batch")
    with pytest.raises(ValueError, match="unknown layer"):
        load_policy("spf", "scheduler")


HEADER = ("from glia.simulator import BaseBatchPolicy\n\nclass B(BaseBatchPolicy):\n"
          "    def next_index(self, pending, replica):\n")

BAD = {
    "exception": "        return [][1]\n",
    "bad_return": "        return 'first'\n",
    "out_of_range": "        return len(pending)\n",
    "never_admitted": "        return None\n",
    "mutated_request": "        pending[0].num_prefill_tokens = 1\n        return 0\n",
    "hidden_field": "        return 0 if pending[0].num_decode_tokens else 0\n",
    "timeout": "        while True:\n            pass\n",
    "crashed": ("        x = iter([1])\n        for _ in range(1_000_000):\n            x = map(abs, x)\n"
                "        return list(x)\n"),
    "load_error": None,
}
KIND = {"out_of_range": "bad_return"}
MESSAGES = {
    "exception": "IndexError", "bad_return": "returned str 'first'", "out_of_range": "valid indices 0..",
    "never_admitted": "never admitted", "mutated_request": "request.num_prefill_tokens",
    "hidden_field": "num_decode_tokens", "timeout": "did not finish within", "crashed": "killed by signal 11",
    "load_error": "no subclass of BaseBatchPolicy",
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_an_invalid_batch_policy_is_contained_with_a_structured_error(case, tmp_path):
    path = tmp_path / f"{case}.py"
    path.write_text(HEADER + BAD[case] if BAD[case] else "x = 1\n")
    [outcome] = run_seeds(TWO.with_stack(batch=str(path)), "llq", [0], timeout_s=3.0, memory_mb=2048)
    assert outcome.summary is None
    assert outcome.error["kind"] == KIND.get(case, case), outcome.error
    assert MESSAGES[case] in outcome.error["message"]


def test_the_error_names_the_batch_policy_line(tmp_path):
    path = tmp_path / "raises.py"
    path.write_text(HEADER + BAD["exception"])
    [outcome] = run_seeds(TWO.with_stack(batch=str(path)), "llq", [0], timeout_s=10)
    assert f"{path}:5" in outcome.error["message"] and "next_index()" in outcome.error["message"]
