"""The request entity, as a scheduling policy sees it: read-only, and without its decode length, which the engine
keeps in an array of its own (``Simulation.totals``), so that no introspection of a request can reveal it."""

from __future__ import annotations

import math


class PolicyViolation(Exception):
    """A scheduling policy did something the simulator forbids; ``kind`` names the problem."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


HIDDEN_FIELDS = ("num_decode_tokens", "_num_decode_tokens", "total_tokens", "_total_tokens",
                 "decode_tokens", "num_remaining_tokens", "completed_at", "_completed_at")


def _hidden(name: str) -> property:
    def read(self):
        raise PolicyViolation(
            "hidden_field", f"policy read request.{name}: the decode length is unknown to a scheduler until the "
            "request completes; use num_prefill_tokens, num_processed_tokens and arrived_at")
    return property(read, _refuse(name))


def _refuse(name: str):
    def write(self, value):
        raise PolicyViolation("mutated_request", f"policy assigned request.{name}; request state is read-only")
    return write


class Request:
    """One inference request. Scheduling policies read the public properties; the simulator owns the slots.

    Its total length (prompt + decode) is not here: replicas read it from the engine's ``totals`` by request id.
    While a request decodes, its processed-token count advances with its replica's iteration counter
    (``_r_base + replica.epoch``) so that runs of identical iterations cost nothing per request.
    """

    __slots__ = (
        "_r_arr",
        "_r_base",
        "_r_decoding",
        "_r_gen",
        "_r_id",
        "_r_n",
        "_r_orig_prompt",
        "_r_prompt",
        "_r_rep",
        "_r_replica_id",
        "_r_restarts",
        "_r_routed_at",
        "_r_t_done",
        "_r_t_first",
        "_r_t_sched",
        "_r_wasted",
    )

    def __init__(self, rid: int, arrived_at: float, num_prefill_tokens: int):
        if num_prefill_tokens < 1:
            raise ValueError(f"request {rid}: the prefill length must be >= 1, got {num_prefill_tokens}")
        self._r_id = rid
        self._r_arr = float(arrived_at)
        self._r_orig_prompt = self._r_prompt = int(num_prefill_tokens)
        self._r_n = 0
        self._r_base = 0
        self._r_decoding = False
        self._r_rep = None
        self._r_gen = 0
        self._r_restarts = 0
        self._r_wasted = 0
        self._r_t_sched = self._r_t_first = self._r_t_done = self._r_routed_at = math.nan
        self._r_replica_id = -1

    def _r_processed(self) -> int:
        if self._r_decoding:
            return self._r_base + self._r_rep.current_epoch()
        return self._r_n

    def __repr__(self) -> str:
        return (f"Request(id={self._r_id}, arrived_at={self._r_arr:.3f}, num_prefill_tokens={self._r_prompt}, "
                f"num_processed_tokens={self._r_processed()}, num_restarts={self._r_restarts})")


_READABLE = {
    ("id", "_id"): lambda r: r._r_id,
    ("arrived_at", "_arrived_at"): lambda r: r._r_arr,
    ("num_prefill_tokens", "_num_prefill_tokens"): lambda r: r._r_prompt,
    ("num_processed_tokens", "_num_processed_tokens"):
        lambda r: r._r_base + r._r_rep.current_epoch() if r._r_decoding else r._r_n,
    ("num_restarts", "_num_restarts"): lambda r: r._r_restarts,
    ("is_prefill_complete", "_is_prefill_complete"): lambda r: r._r_decoding,
    ("scheduled", "_scheduled"): lambda r: not math.isnan(r._r_t_sched),
    ("scheduled_at", "_scheduled_at"): lambda r: r._r_t_sched,
    ("replica_id",): lambda r: r._r_replica_id,
}


def read_only_surface(cls: type, readable: dict) -> None:
    """Give ``cls`` the request surface a policy sees: each name of ``readable`` a read-only property, the hidden
    fields errors (the simulator's requests, the hardened mode's views and the real router's requests alike)."""
    for names, getter in readable.items():
        for name in names:
            setattr(cls, name, property(getter, _refuse(name)))
    for name in HIDDEN_FIELDS:
        setattr(cls, name, _hidden(name))


read_only_surface(Request, _READABLE)
