"""The contracts between the engine and the policies of each layer, checked in one place.

A router's ``schedule()`` returns ``(replica_id, request)`` pairs: each request one it was given and has not routed
before, unmodified, to a replica that accepts requests now. Every request must be routed eventually. A batch
policy's ``next_index()`` returns an index into the pending requests it was given, or None; every routed request
must be admitted (and so complete) eventually. An autoscaler's ``desired_replicas()`` returns an int. Anything else
is a ``PolicyViolation`` whose ``kind`` names the breach and whose message says what the policy did.
"""

from __future__ import annotations

import difflib
import inspect
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np

from glia.simulator.policy import guard
from glia.simulator.request import HIDDEN_FIELDS, PolicyViolation, Request


def call_policy(fn: Callable[[], Any], where: str) -> Any:
    """Call into policy code; an exception it raises becomes a violation naming the policy's file and line, and
    anything the audit hook refused fails the run even when the policy caught the exception."""
    try:
        out = fn()
    except (PolicyViolation, MemoryError):
        raise
    except (Exception, SystemExit) as exc:
        raise guard.first_refusal() or policy_exception(exc, where) from None
    refused = guard.first_refusal()
    if refused:
        raise refused
    return out


def call_schedule(sched) -> list | None:
    """``sched.schedule()``'s pairs as a list (a generator's body is policy code too), or None if it returned None.
    ``call_policy`` spelt out: the engine calls this after every arrival and completion."""
    try:
        pairs = sched.schedule()
        if pairs is not None and type(pairs) is not list:  # any other iterable is listed here, as policy code
            try:
                items = iter(pairs)
            except TypeError:
                raise PolicyViolation("bad_return", f"schedule() returned {pairs!r}; it must return a list of "
                                      "(replica_id, request) pairs") from None
            pairs = list(items)
    except (PolicyViolation, MemoryError):
        raise
    except (Exception, SystemExit) as exc:
        raise guard.first_refusal() or policy_exception(exc, "schedule") from None
    refused = guard.first_refusal()
    if refused:
        raise refused
    return pairs


def policy_exception(exc: BaseException, where: str) -> PolicyViolation:
    frames = traceback.StackSummary.extract(traceback.walk_tb(exc.__traceback__), lookup_lines=False)
    policy_frames = [f for f in frames if "/simulator/" not in f.filename.replace("\\", "/")] or frames
    loc = f" at {policy_frames[-1].filename}:{policy_frames[-1].lineno}" if policy_frames else ""
    try:
        hint = attribute_hint(exc) if isinstance(exc, AttributeError) else usage_hint(exc)
    except Exception:  # a policy's own __dir__ or __eq__ may raise too: the error stands without the hint
        hint = ""
    return PolicyViolation("exception", f"policy raised {type(exc).__name__} in {where}(){loc}: {exc}{hint}")


# list methods a policy tries on a replica's queue, which is a read-only tuple
_QUEUE_CHANGES = {"pop", "append", "remove", "clear", "insert", "extend", "sort", "popleft", "appendleft"}


def attribute_hint(exc: AttributeError) -> str:
    """Where a missing attribute does live nearby (``._replica_schedulers[key].block_size``), the close names, and
    what the object has: small models most often ask the wrong object. Names come from ``dir()``, ``vars()`` and the
    class dictionaries, so no property (and no hidden field) is read."""
    obj, name = getattr(exc, "obj", None), getattr(exc, "name", None)
    if obj is None or not name:
        return ""
    names = api_names(obj)
    owners = [f"{path}.{name}" for path, item in _nearby(obj, names) if name in api_names(item)]
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    parts = [f"did you mean {' or '.join(owners[:3])}?"] if owners else []
    if isinstance(obj, tuple) and name in _QUEUE_CHANGES:
        parts.append("a replica's pending_queue and active_queue are read-only tuples; a router takes requests "
                     "from its own list, self._request_queue")
    parts += [f"close names: {', '.join(close)}"] if close else []
    if names:
        parts.append(f"{type(obj).__name__} has: {', '.join(names[:30])}" + (", ..." if len(names) > 30 else ""))
    return " (" + "; ".join(parts) + ")" if parts else ""


def usage_hint(exc: BaseException) -> str:
    """What the policy took a request for, when it indexed or unpacked one as if it were a tuple (the commonest
    TypeError of the local model's designs)."""
    text = str(exc)
    if isinstance(exc, TypeError) and (text.startswith("'Request' object is not")
                                       or "unpack non-iterable Request" in text):
        return (" (a request is an object, not a tuple: read its fields by name; Request has: "
                f"{', '.join(api_names(Request))})")
    return ""


def api_names(obj: Any) -> list[str]:
    """The names a policy may use on ``obj`` (an instance or its class): public ones, and the documented private
    ones (vidur's ``_config``, ``_request_queue``: properties or instance attributes), not engine-side methods or
    slots, nor a private twin of a public name."""
    if isinstance(obj, (int, float, str, bytes, bool, type(None))):
        return []
    own = {} if isinstance(obj, type) else getattr(obj, "__dict__", {})
    out = set()
    for n in dir(obj):
        if n.startswith("__") or n in HIDDEN_FIELDS:
            continue
        if n.startswith("_") and not (n in own or isinstance(inspect.getattr_static(obj, n, None), property)):
            continue
        out.add(n)
    return sorted(n for n in out if not (n.startswith("_") and n[1:] in out))


def _nearby(obj: Any, names: list[str], depth: int = 2, path: str = ""):
    """(path, object) for what ``obj``'s instance attributes hold, a container's first item standing for all."""
    if depth == 0:
        return
    for attr, value in sorted(getattr(obj, "__dict__", {}).items()):
        if attr not in names:
            continue
        item, where = value, f"{path}.{attr}"
        if isinstance(value, (list, tuple)) and value:
            item, where = value[0], f"{where}[i]"
        elif isinstance(value, dict) and value:
            item, where = next(iter(value.values())), f"{where}[key]"
        yield where, item
        yield from _nearby(item, api_names(item), depth - 1, where)


def route_pairs(pairs: Any, request_type: type = Request) -> list[tuple[Any, Any]]:
    """``schedule()``'s return value as (replica_id, request) pairs, or the ``bad_return`` violation it commits."""
    if pairs is None:
        raise PolicyViolation("bad_return", "schedule() returned None; it must return a list of "
                              "(replica_id, request) pairs (an empty list to route nothing)")
    out = []
    for pair in pairs:
        try:
            rid, r = pair
        except (TypeError, ValueError):
            raise PolicyViolation("bad_return", f"schedule() returned {pair!r}; expected (replica_id, request)"
                                  ) from None
        if type(r) is not request_type:
            raise PolicyViolation("bad_return", f"schedule() returned {type(r).__name__} {r!r} in place of a "
                                  "request")
        out.append((rid, r))
    return out


def checked_routes(pairs: Any, serving: dict, requests: list[Request], now: float) -> list[tuple[Any, Request]]:
    """(replica, request) for each pair ``schedule()`` returned, or the violation it commits: each request one the
    policy was given (``requests[id]``) and has not routed before, unmodified, to a replica that accepts requests."""
    out = []
    for rid, r in route_pairs(pairs):
        if not (0 <= r._r_id < len(requests) and requests[r._r_id] is r):
            raise PolicyViolation("bad_return", f"schedule() returned a request it was not given ({r!r})")
        rep = serving.get(rid) if isinstance(rid, (int, np.integer)) and not isinstance(rid, bool) else None
        if rep is None:
            raise PolicyViolation("invalid_replica", f"schedule() routed request {r._r_id} to replica {rid!r}; "
                                  f"valid replica ids now: {sorted(serving)}")
        if r._r_routed_at == r._r_routed_at:
            raise PolicyViolation("routed_twice", f"request {r._r_id} was routed twice (first to replica "
                                  f"{r._r_replica_id} at t={r._r_routed_at:.3f}s, again to replica {rid} at "
                                  f"t={now:.3f}s)")
        if r._r_prompt != r._r_orig_prompt or r._r_n or r._r_restarts:
            raise PolicyViolation("mutated_request", f"request {r._r_id} was modified by the policy")
        r._r_routed_at = now  # marks it routed, so a repeat within the same list is caught too
        out.append((rep, r))
    return out


def check_all_routed(requests: list[Request]) -> None:
    unrouted = [r._r_id for r in requests if r._r_routed_at != r._r_routed_at]
    if unrouted:
        raise PolicyViolation("never_routed", f"{len(unrouted)} request(s) were never routed (ids "
                              f"{', '.join(map(str, unrouted[:10]))}{', ...' if len(unrouted) > 10 else ''}); "
                              "schedule() must eventually route every request it holds; to hold a request, "
                              "leave it in self._request_queue (a request popped and not returned is lost)")


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


class CheckedBatchPolicy:
    """A batch policy from a file, behind the contract: it is given a tuple of the pending requests (so it cannot
    reorder the replica's queue), its exceptions name its file and line, and it must return an index into that tuple
    or None."""

    __slots__ = ("_policy",)

    def __init__(self, policy: Any):
        self._policy = policy

    def next_index(self, pending: list[Request], replica: Any) -> int | None:
        view = tuple(pending)
        i = call_policy(lambda: self._policy.next_index(view, replica), "next_index")
        if i is None:
            return None
        if not _is_int(i):
            raise PolicyViolation("bad_return", f"next_index() returned {type(i).__name__} {i!r}; it must return the "
                                  "index of a pending request (an int) or None to admit nothing now")
        if not 0 <= i < len(view):
            raise PolicyViolation("bad_return", f"next_index() returned {i} but replica {replica.replica_id} has "
                                  f"{len(view)} pending request(s) (valid indices 0..{len(view) - 1})")
        return int(i)


def checked_replica_count(value: Any) -> int:
    """An autoscaler's answer, or the violation it commits."""
    if not _is_int(value):
        raise PolicyViolation("bad_return", f"desired_replicas() returned {type(value).__name__} {value!r}; it must "
                              "return an int, the number of replicas wanted (serving plus starting)")
    return int(value)


def check_all_admitted(requests: list[Request]) -> None:
    """Every routed request must complete: a batch policy that holds requests forever breaks the contract."""
    stuck = [r for r in requests if r._r_t_done != r._r_t_done]
    if stuck:
        held = sorted({r._r_replica_id for r in stuck})
        raise PolicyViolation("never_admitted", f"{len(stuck)} request(s) were never admitted (ids "
                              f"{', '.join(str(r._r_id) for r in stuck[:10])}{', ...' if len(stuck) > 10 else ''} "
                              f"on replica(s) {', '.join(map(str, held))}); next_index() must eventually admit "
                              "every pending request")
