"""The routing design as one function, for methods that evolve a single function (EoH, FunSearch). ``route`` is
what they evolve; ``FunctionRouter`` runs it as the scheduler: it hands ``route`` the waiting requests, oldest first,
and routes what it returns (requests it does not return keep waiting for a later call)."""

from glia.simulator import BaseGlobalScheduler


def route(queue, replicas, rng):
    """Called after every arrival and completion. queue: the waiting requests, oldest first (each has id,
    arrived_at, num_prefill_tokens, num_processed_tokens, num_restarts; the output length is hidden); replicas: a
    dict replica id -> replica (num_pending_requests, num_active_requests, num_allocated_blocks, num_blocks,
    block_size); rng: a seeded random.Random. Returns a list of (replica_id, request) pairs; requests left out wait."""
    load = {rid: r.num_pending_requests + r.num_active_requests for rid, r in replicas.items()}
    out = []
    for request in queue:
        rid = min(load, key=load.__getitem__)
        load[rid] += 1
        out.append((rid, request))
    return out


class FunctionRouter(BaseGlobalScheduler):
    def schedule(self):
        self.sort_requests()
        routed = route(list(self._request_queue), self._replica_schedulers, self.rng)
        taken = {request.id for _, request in routed}
        self._request_queue[:] = [r for r in self._request_queue if r.id not in taken]
        return routed
