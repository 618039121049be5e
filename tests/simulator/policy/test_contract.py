"""The contract's errors: what an AttributeError says about where the name does live
(``simulator/policy/contract.py``)."""

from __future__ import annotations

import pytest

from glia.simulator import BaseGlobalScheduler, Simulation
from glia.simulator.request import HIDDEN_FIELDS, PolicyViolation
from tests.support.helpers import small_config

REQUESTS = [(0.0, 10, 5), (0.01, 10, 5)]


def violation(router=None, batch: str | None = None) -> str:
    """The violation a router class, or a batch policy file under ``_FirstReplica``, commits."""
    cfg = small_config(REQUESTS, num_replicas=2)
    with pytest.raises(PolicyViolation) as err:
        Simulation(cfg.with_stack(batch=batch), router or _FirstReplica).run()
    assert err.value.kind == "exception"
    return str(err.value)


class _FirstReplica(BaseGlobalScheduler):
    def schedule(self):
        return [(0, self._request_queue.pop(0)) for _ in range(len(self._request_queue))]


def test_a_name_asked_of_the_wrong_object_is_answered_with_where_it_lives():
    class Router(BaseGlobalScheduler):
        def schedule(self):
            return [] if self.block_size else []

    text = violation(Router)
    assert "'Router' object has no attribute 'block_size' (did you mean ._config.cluster.block_size or " \
           "._replica_schedulers[key].block_size?; Router has: _config, _num_replicas, _replica_schedulers, " \
           "_request_queue, add_request, get_replica_scheduler, is_empty, rng, schedule, sort_requests)" in text
    assert "_set_replicas" not in text  # engine-side


def test_a_misspelt_name_gets_the_close_ones_and_never_a_hidden_field():
    class Router(BaseGlobalScheduler):
        def schedule(self):
            return [(self._request_queue[0].replica_idx, self._request_queue.pop(0))] if self._request_queue else []

    text = violation(Router)
    assert "'Request' object has no attribute 'replica_idx' (close names: replica_id; Request has: arrived_at, id, " \
           "is_prefill_complete, num_prefill_tokens, num_processed_tokens, num_restarts, replica_id, scheduled, " \
           "scheduled_at)" in text
    assert not any(hidden in text for hidden in HIDDEN_FIELDS)


def test_a_batch_policy_asking_a_replica_for_a_missing_name_sees_the_replicas_names(tmp_path):
    (tmp_path / "batch.py").write_text(
        "from glia.simulator import BaseBatchPolicy\n\n\nclass Batch(BaseBatchPolicy):\n"
        "    def next_index(self, pending, replica):\n        return 0 if replica.free_block > 0 else None\n")
    text = violation(batch=str(tmp_path / "batch.py"))
    assert "no attribute 'free_block' (close names: free_blocks, num_blocks; ReplicaHandle has: " in text
    assert "_rep," not in text and "_state" not in text  # the engine's side of the handle


def test_a_policy_whose_own_dir_raises_still_gets_its_error():
    class Router(BaseGlobalScheduler):
        def __dir__(self):
            raise RuntimeError("no")

        def schedule(self):
            return self.missing

    assert violation(Router).endswith("'Router' object has no attribute 'missing'")


def test_a_request_taken_for_a_tuple_is_answered_with_its_fields():
    class Router(BaseGlobalScheduler):
        def schedule(self):
            return [(0, r) for r in self._request_queue if r[1] > 0]

    text = violation(Router)
    assert text.endswith("'Request' object is not subscriptable (a request is an object, not a tuple: read its "
                         "fields by name; Request has: arrived_at, id, is_prefill_complete, num_prefill_tokens, "
                         "num_processed_tokens, num_restarts, replica_id, scheduled, scheduled_at)")


def test_popping_a_replicas_queue_is_answered_with_the_queue_a_router_takes_from():
    class Router(BaseGlobalScheduler):
        def schedule(self):
            return [(0, self._replica_schedulers[0].pending_queue.pop())]

    assert violation(Router).endswith(
        "'tuple' object has no attribute 'pop' (a replica's pending_queue and active_queue are read-only tuples; a "
        "router takes requests from its own list, self._request_queue; tuple has: count, index)")
