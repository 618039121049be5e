"""The functions form of a design: a layer's policy as a few small functions, called by a fixed driver.

A small model rarely writes a whole policy class that both runs and does what it meant (attributes of the wrong
object, requests indexed as tuples, requests dropped from the queue, the starter re-worded). In the functions form
it writes only the decisions, each a short function whose arguments and fields are spelt out, and the driver here,
trusted library code, does the rest: it keeps the queue, calls the functions in a fixed order, checks what they return
and guarantees progress. A functions file is an ordinary policy file (checked, confined and re-measured like any
other): it imports its layer's driver from ``glia.simulator`` and ends with a class that hands the driver its
functions::

    from glia.simulator import RoutingFunctions

    def priority(request): ...
    def admit(request, replica): ...
    def choose(request, replicas): ...

    class Router(RoutingFunctions):  # fixed: glia's driver calls the functions above
        functions = (priority, admit, choose)

Routing (``RoutingFunctions``), at every arrival and completion: the waiting requests in the order of
``priority(request)`` (lower first, ties by arrival); for each, the replicas that ``admit(request, replica)``; if any,
``choose(request, replicas)`` picks one (the request goes there), else the request waits in the router. A request no
replica admits still goes to an idle replica (nothing pending or running), so waiting never lasts forever. A replica
as the functions see it counts the requests sent to it in the same call.

Batch (``BatchFunctions``), whenever the replica could admit a request: the pending request with the lowest
``priority(request, now)`` (ties: queue order) is admitted if ``admit(request, replica)`` or the replica runs nothing.

Autoscaling (``ScalingFunctions``), at every control tick: one replica more when ``scale_up(view)``, else one fewer
when ``scale_down(view)``, never within ``cooldown(view)`` seconds of the last change; clamped to the platform's
bounds.
"""

from __future__ import annotations

import math
from numbers import Real

from glia.simulator.policy.autoscaler import BaseAutoscaler
from glia.simulator.policy.batch import BaseBatchPolicy
from glia.simulator.policy.router import BaseGlobalScheduler
from glia.simulator.request import PolicyViolation

DRIVERS = ("RoutingFunctions", "BatchFunctions", "ScalingFunctions")


def _functions(policy, names: tuple[str, ...]) -> tuple:
    fns = getattr(type(policy), "functions", ())
    if not (isinstance(fns, tuple) and len(fns) == len(names) and all(callable(f) for f in fns)):
        raise PolicyViolation("bad_design", f"the class must hand the driver its functions: functions = "
                                            f"({', '.join(names)})")
    return fns


def _number(value, call: str, example: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or value != value:
        raise PolicyViolation("bad_return", f"{call} returned {value!r}; it must return a number, e.g. {example}")
    return float(value)


def _yes(value, call: str) -> bool:
    if value is None:
        raise PolicyViolation("bad_return", f"{call} returned None; it must return True or False (every path needs "
                                            "a return)")
    return bool(value)


REQUEST_FIELDS = ("id", "arrived_at", "num_prefill_tokens", "num_processed_tokens", "num_restarts")
REPLICA_FIELDS = ("replica_id", "num_pending_requests", "num_active_requests", "num_allocated_blocks", "num_blocks",
                  "block_size", "free_blocks", "blocks_for(request)")


class Replica:
    """A replica as the routing functions see it, counting the requests the current call already sent there (its
    KV state is read only when a function asks for it)."""

    __slots__ = ("_rs", "_sent", "_sent_blocks", "_waiting_blocks")

    def __init__(self, rs):
        self._rs, self._sent, self._sent_blocks, self._waiting_blocks = rs, 0, 0, None

    replica_id = property(lambda self: self._rs.replica_id)
    num_pending_requests = property(lambda self: self._rs.num_pending_requests + self._sent)
    num_active_requests = property(lambda self: self._rs.num_active_requests)
    num_allocated_blocks = property(lambda self: self._rs.num_allocated_blocks)
    num_blocks = property(lambda self: self._rs.num_blocks)
    block_size = property(lambda self: self._rs.block_size)

    @property
    def free_blocks(self) -> int:
        """Free KV blocks once the prompts already waiting at the replica are admitted (may be negative)."""
        if self._waiting_blocks is None:
            self._waiting_blocks = sum(self.blocks_for(r) for r in self._rs.pending_queue)
        return self._rs.num_blocks - self._rs.num_allocated_blocks - self._waiting_blocks - self._sent_blocks

    def blocks_for(self, request) -> int:
        """KV blocks the request's prompt takes here."""
        return math.ceil(request.num_prefill_tokens / self._rs.block_size)

    def __getattr__(self, name: str):
        """A field the replica does not have: which object has it, and what a replica has (a small model reads a
        request's fields on a replica)."""
        if name.startswith("__"):
            raise AttributeError(name)
        owner = " (a field of the request: request." + name + ")" if name in REQUEST_FIELDS else ""
        raise AttributeError(f"a replica has no {name}{owner}; a replica has {', '.join(REPLICA_FIELDS)}")

    def _take(self, request) -> None:
        self._sent += 1
        self._sent_blocks += self.blocks_for(request)

    def __repr__(self) -> str:
        return (f"Replica(replica_id={self.replica_id}, num_pending_requests={self.num_pending_requests}, "
                f"num_active_requests={self.num_active_requests}, num_blocks={self.num_blocks})")


class RoutingFunctions(BaseGlobalScheduler):
    """The routing driver: ``functions = (priority, admit, choose)``."""

    functions: tuple = ()

    def schedule(self):
        priority, admit, choose = _functions(self, ("priority", "admit", "choose"))
        queue = self._request_queue
        if not queue:
            return []
        replicas = [Replica(rs) for rs in self._replica_schedulers.values()]
        keys = [_number(priority(r), "priority(request)", "return request.arrived_at") for r in queue]
        order = sorted(range(len(queue)), key=lambda i: (keys[i], queue[i].arrived_at, i))
        routed: set[int] = set()
        mapping = []
        for i in order:
            request = queue[i]
            fits = [rep for rep in replicas if _yes(admit(request, rep), "admit(request, replica)")]
            if fits:
                target = self._chosen(choose(request, fits), fits)
            else:  # nobody admits it: an idle replica still takes it, so nothing waits forever
                target = next((rep for rep in replicas if rep.num_pending_requests == 0
                               and rep.num_active_requests == 0), None)
                if target is None:
                    continue
            target._take(request)
            mapping.append((target.replica_id, request))
            routed.add(i)
        if routed:
            queue[:] = [r for i, r in enumerate(queue) if i not in routed]
        return mapping

    @staticmethod
    def _chosen(value, fits: list[Replica]) -> Replica:
        for rep in fits:
            if value is rep or (isinstance(value, int) and not isinstance(value, bool) and value == rep.replica_id):
                return rep
        raise PolicyViolation("bad_return", f"choose(request, replicas) returned {value!r}; it must return one of "
                                            "the replicas it was given, e.g. return replicas[0]")


class BatchFunctions(BaseBatchPolicy):
    """The batch driver: ``functions = (priority, admit)``."""

    functions: tuple = ()

    def next_index(self, pending, replica):
        priority, admit = _functions(self, ("priority", "admit"))
        if not pending:
            return None
        now = replica.now
        best, best_key = 0, None
        for i, request in enumerate(pending):
            key = _number(priority(request, now), "priority(request, now)", "return request.arrived_at")
            if best_key is None or key < best_key:
                best, best_key = i, key
        if replica.num_active_requests == 0 or _yes(admit(pending[best], replica), "admit(request, replica)"):
            return best
        return None


class ScalingFunctions(BaseAutoscaler):
    """The autoscaling driver: ``functions = (scale_up, scale_down, cooldown)``."""

    functions: tuple = ()

    def __init__(self, config=None):
        super().__init__(config)
        self._last_change = -math.inf

    def desired_replicas(self, view):
        scale_up, scale_down, cooldown = _functions(self, ("scale_up", "scale_down", "cooldown"))
        current = view.serving + view.starting
        if view.now - self._last_change < _number(cooldown(view), "cooldown(view)", "return 60.0"):
            return current
        want = current
        if _yes(scale_up(view), "scale_up(view)"):
            want = current + 1
        elif _yes(scale_down(view), "scale_down(view)"):
            want = current - 1
        want = max(view.min_replicas, min(view.max_replicas, want))
        if want != current:
            self._last_change = view.now
        return want


# the functions file each layer starts from: its driver, its functions (name, arguments) and a working default that
# does what the layer's standard design does (llq, first come first served, the threshold autoscaler)
STARTERS = {
    "router": '''"""Routing as three functions, called by glia's fixed driver (glia.simulator.RoutingFunctions).

At every arrival and completion the driver takes the waiting requests in the order of priority(request) (lower
first); for each, the replicas that admit(request, replica); if any, choose(request, replicas) picks where it goes,
else it waits in the router (an idle replica still takes it).
"""

from glia.simulator import RoutingFunctions


def priority(request):
    return request.arrived_at


def admit(request, replica):
    return True


def choose(request, replicas):
    return min(replicas, key=lambda r: r.num_pending_requests + r.num_active_requests)


class Router(RoutingFunctions):  # fixed: glia's driver calls the functions above
    functions = (priority, admit, choose)
''',
    "batch": '''"""A replica's admission as two functions, called by glia's fixed driver (BatchFunctions).

Whenever the replica could admit a request, the driver takes the pending request with the lowest priority(request,
now) and admits it if admit(request, replica) (or if the replica runs nothing).
"""

from glia.simulator import BatchFunctions


def priority(request, now):
    return request.arrived_at


def admit(request, replica):
    return True


class Batch(BatchFunctions):  # fixed: glia's driver calls the functions above
    functions = (priority, admit)
''',
    "autoscaler": '''"""Autoscaling as three functions, called by glia's fixed driver (glia.simulator.ScalingFunctions).

At every control tick the driver adds a replica if scale_up(view), else removes one if scale_down(view), but never
within cooldown(view) seconds of its last change.
"""

from glia.simulator import ScalingFunctions


def scale_up(view):
    return view.decode_tokens_per_s > 700.0 or view.waiting > 5.0 * max(view.serving, 1)


def scale_down(view):
    return view.decode_tokens_per_s < 350.0 and view.waiting == 0


def cooldown(view):
    return 60.0


class Autoscaler(ScalingFunctions):  # fixed: glia's driver calls the functions above
    functions = (scale_up, scale_down, cooldown)
''',
}
