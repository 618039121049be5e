"""A measured execution model: iteration times fitted to a real backend instead of derived from a device roofline.

Sim-to-real comparison calibrates the simulator to the servers it is compared with. Those servers (a CPU
llama.cpp build serving a 135M model, say) are no device in ``hardware``; what can be measured of them is how long a
prefill of ``q`` tokens takes and how long one decode step takes at a given context. The model is linear in what an
iteration does::

    time = overhead_s + per_token_s * new_tokens + per_context_token_s * kv_tokens

which is what ``ServiceModel.fit`` estimates by least squares from prefill probes (prompt length, time to first token
alone) and decode probes (context length, seconds per output token). ``MeasuredClusterConfig`` plugs it into the
simulator where ``ClusterConfig`` would: the engine, the replica scheduler and the metrics (isolated time, slowdown)
use it unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from glia.simulator.config import ClusterConfig
from glia.simulator.execution import ExecutionModel


@dataclass(frozen=True)
class ServiceModel:
    """Fitted iteration-time coefficients (seconds)."""

    overhead_s: float
    per_token_s: float
    per_context_token_s: float = 0.0

    def __post_init__(self):
        if min(self.overhead_s, self.per_token_s, self.per_context_token_s) < 0 or self.per_token_s == 0:
            raise ValueError(f"a service model needs non-negative coefficients and a positive per-token time, got "
                             f"{self}")

    @classmethod
    def fit(cls, prefill: list[tuple[int, float]], decode: list[tuple[float, float]],
            chunk_size: int = 512) -> ServiceModel:
        """Fit to ``prefill`` = [(prompt tokens, seconds to the first token when alone)] and ``decode`` =
        [(mean context tokens, seconds per output token)]. A prefill runs in chunks of ``chunk_size`` tokens, each an
        iteration of its own, as the backend (llama.cpp's ``n_batch``) does."""
        if not prefill or not decode:
            raise ValueError("fitting a service model needs at least one prefill and one decode measurement")
        rows, times = [], []
        for prompt, seconds in prefill:
            iterations, new, kv = _prefill_terms(int(prompt), chunk_size)
            rows.append((iterations, new, kv))
            times.append(seconds)
        for context, seconds in decode:
            rows.append((1.0, 1.0, float(context)))
            times.append(seconds)
        a, t = np.asarray(rows, dtype=float), np.asarray(times, dtype=float)
        # relative error matters (decode steps are ~100x shorter than long prefills): weight rows by 1 / time
        w = 1.0 / np.maximum(t, 1e-6)
        coef = _nonnegative_lstsq(a * w[:, None], t * w)
        if coef[1] <= 0:
            coef[1] = max(float(np.median([s / max(p, 1) for p, s in prefill])), 1e-9)
        return cls(float(coef[0]), float(coef[1]), float(coef[2]))

    def prefill_time(self, prompt: int, chunk_size: int) -> float:
        iterations, new, kv = _prefill_terms(prompt, chunk_size)
        return self.overhead_s * iterations + self.per_token_s * new + self.per_context_token_s * kv

    def decode_step(self, context: float) -> float:
        return self.overhead_s + self.per_token_s + self.per_context_token_s * context

    def to_dict(self) -> dict:
        return {"overhead_s": self.overhead_s, "per_token_s": self.per_token_s,
                "per_context_token_s": self.per_context_token_s}


def _prefill_terms(prompt: int, chunk_size: int) -> tuple[int, int, int]:
    """(iterations, new tokens, KV tokens summed over the iterations) of a prefill in chunks."""
    iterations, kv, done = 0, 0, 0
    while done < prompt:
        q = min(chunk_size, prompt - done)
        done += q
        kv += done
        iterations += 1
    return iterations, prompt, kv


def _nonnegative_lstsq(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Least squares with every coefficient >= 0: drop the most negative one and refit until none is negative
    (enough for three coefficients)."""
    free = list(range(a.shape[1]))
    coef = np.zeros(a.shape[1])
    while free:
        sol, *_ = np.linalg.lstsq(a[:, free], b, rcond=None)
        if (sol >= 0).all():
            coef[free] = sol
            return coef
        del free[int(np.argmin(sol))]
    return coef


class MeasuredExecutionModel(ExecutionModel):
    """An ``ExecutionModel`` whose iteration time is a fitted ``ServiceModel``; ``isolated_time`` (the slowdown
    denominator) is inherited and so follows the same chunked-prefill-then-decode path as the replica scheduler."""

    def __init__(self, service: ServiceModel):  # no device or model: nothing of the roofline is used
        self.service = service

    def iteration_time(self, tokens: int, emitting: int, sequences: int, attn_units: float, kv_tokens: float) -> float:
        if sequences == 0:
            return 0.0
        s = self.service
        return s.overhead_s + s.per_token_s * tokens + s.per_context_token_s * kv_tokens

    def decode_time_coefficients(self, batch: int) -> tuple[float, float]:
        s = self.service
        return s.overhead_s + s.per_token_s * batch, s.per_context_token_s

    def num_kv_blocks(self, block_size: int, max_batch_tokens: int) -> int:
        raise ValueError("a measured cluster has no device memory to derive KV blocks from: set num_blocks")


@dataclass(frozen=True)
class MeasuredClusterConfig(ClusterConfig):
    """A cluster of identical replicas whose iteration times were measured (``ServiceModel``); ``num_blocks`` must be
    given (for llama.cpp: ``n_ctx / block_size``), ``batch_size_cap`` 1 for servers that run one request at a time,
    ``chunk_size`` the backend's prefill batch (llama.cpp's ``n_batch``)."""

    device: str = "measured"
    model: str = "measured"
    overhead_s: float = 0.0
    per_token_s: float = 1e-3
    per_context_token_s: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        if self.num_blocks is None:
            raise ValueError("a measured cluster needs num_blocks (KV capacity in blocks of block_size tokens)")
        ServiceModel(self.overhead_s, self.per_token_s, self.per_context_token_s)  # validates

    @classmethod
    def from_service(cls, service: ServiceModel, **cluster) -> MeasuredClusterConfig:
        return cls(overhead_s=service.overhead_s, per_token_s=service.per_token_s,
                   per_context_token_s=service.per_context_token_s, **cluster)

    def execution_model(self) -> ExecutionModel:
        return MeasuredExecutionModel(ServiceModel(self.overhead_s, self.per_token_s, self.per_context_token_s))


def blocks_for(tokens: int, block_size: int) -> int:
    """KV blocks that hold ``tokens`` tokens (a backend's context of ``n_ctx`` tokens, say)."""
    return max(1, math.floor(tokens / block_size))
