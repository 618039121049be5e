"""The routing contract between the engine and a policy, checked in one place.

A policy's ``schedule()`` returns ``(replica_id, request)`` pairs: each request one it was given and has not routed
before, unmodified, to a replica that accepts requests now. Every request must be routed eventually. Anything else
is a ``PolicyViolation`` whose ``kind`` names the breach and whose message says what the policy did.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

import numpy as np

from .request import PolicyViolation, Request


def call_policy(fn: Callable[[], Any], where: str) -> Any:
    """Call into policy code; an exception it raises becomes a violation naming the policy's file and line."""
    try:
        return fn()
    except (PolicyViolation, MemoryError):
        raise
    except Exception as exc:
        raise policy_exception(exc, where) from None


def policy_exception(exc: BaseException, where: str) -> PolicyViolation:
    frames = traceback.extract_tb(exc.__traceback__)
    policy_frames = [f for f in frames if "/simulator/" not in f.filename.replace("\\", "/")] or frames
    loc = f" at {policy_frames[-1].filename}:{policy_frames[-1].lineno}" if policy_frames else ""
    return PolicyViolation("exception", f"policy raised {type(exc).__name__} in {where}(){loc}: {exc}")


def checked_routes(pairs: Any, serving: dict, now: float) -> list[tuple[Any, Request]]:
    """``schedule()``'s return value as (replica, request) pairs, or the violation it commits."""
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
        if type(r) is not Request:
            raise PolicyViolation("bad_return", f"schedule() returned {type(r).__name__} {r!r} in place of a "
                                  "request")
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
                              "schedule() must eventually route every request it holds")
