"""Request workloads, seeded and reproducible: the paper's ShareGPT generator, trace replay, Poisson, sinusoidal
time-varying load, and a closed loop of concurrent users."""

from __future__ import annotations

import csv
import math
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from glia.simulator.config import WorkloadSpec  # noqa: F401  (its home before; imported from here by many)

DATA = Path(__file__).parent / "data"

# name -> (file, whether the paper's recipe (inflation, system prompt, cap) is already applied to its lengths)
LENGTH_TABLES: dict[str, tuple[str, bool]] = {
    # the (prompt, output) pairs of the traces generated with the paper's recipe, pooled (about 11,800)
    "sharegpt-glia": ("traces/sharegpt_[0-9]*.csv", True),
    # raw first-round ShareGPT lengths (vidur fork), for applying the recipe from scratch
    "sharegpt-val": ("traces/sharegpt_val_10k_llama2.csv", False),
    "splitwise-conv": ("traces/splitwise_conv.csv", True),
    "splitwise-code": ("traces/splitwise_code.csv", True),
}


@dataclass(frozen=True)
class Trace:
    """Open-loop arrivals: times (s, sorted) and token lengths."""

    arrived_at: np.ndarray
    prefill: np.ndarray
    decode: np.ndarray

    def __len__(self) -> int:
        return len(self.arrived_at)


@dataclass(frozen=True)
class ClosedLoop:
    """K users, each sending a request, waiting for its completion, thinking, and sending the next, until
    ``duration``. Lengths are drawn in order from ``prefill``/``decode``."""

    users: int
    think_time_s: float
    duration_s: float
    prefill: np.ndarray
    decode: np.ndarray
    think: np.ndarray  # pre-drawn exponential think times, used in order


def _read_columns(path: Path) -> tuple[np.ndarray, ...]:
    """(arrived_at or empty, prefill, decode) of a CSV file; token counts may be written as floats ("12.0"). Parsed
    by numpy's reader (every seed process reads its length table once: this is part of a seed's cost)."""
    with open(path, newline="") as f:
        header = next(csv.reader(f), [])
        missing = {"num_prefill_tokens", "num_decode_tokens"} - set(header)
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        names = [n for n in ("arrived_at", "num_prefill_tokens", "num_decode_tokens") if n in header]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # a header and no rows: no requests
                data = np.loadtxt(f, delimiter=",", quotechar='"', ndmin=2, dtype=float,
                                  usecols=[header.index(n) for n in names])
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
    cols = dict(zip(names, data.T, strict=True))
    # int(float(x)) for each value, as numpy does it: truncation toward zero
    prefill = cols["num_prefill_tokens"].astype(np.int64)
    decode = cols["num_decode_tokens"].astype(np.int64)
    arrived = cols["arrived_at"].copy() if len(data) and "arrived_at" in cols else np.zeros(0)
    return arrived, prefill, decode


@cache  # CACHE: a length table per process, by its name or CSV path (the files ship with the package)
def length_table(name: str) -> tuple[np.ndarray, np.ndarray, bool]:
    """(prefill, decode, recipe_applied) of a named table, or of a CSV path."""
    if name in LENGTH_TABLES:
        pattern, applied = LENGTH_TABLES[name]
        paths = sorted(DATA.glob(pattern))
    else:
        paths, applied = [Path(name)], True
        if not paths[0].is_file():
            raise ValueError(f"unknown length table {name!r}: not one of {', '.join(LENGTH_TABLES)} nor a CSV file")
    parts = [_read_columns(p)[1:] for p in paths]
    prefill = np.concatenate([p for p, _ in parts])
    decode = np.concatenate([d for _, d in parts])
    if len(prefill) == 0 or prefill.min() < 1 or decode.min() < 1:
        raise ValueError(f"length table {name!r} is empty or has lengths below 1")
    return prefill, decode, applied


def sample_lengths(rng: np.random.Generator, n: int, table: str, inflate_prob: float = 0.05,
                   inflate_factor: float = 10.0, cap: int = 4096, system_prompt: int = 42) -> tuple[np.ndarray, ...]:
    """Draw ``n`` (prompt, output) pairs; on a raw table apply the paper's recipe: prompts and outputs capped,
    ``inflate_prob`` of prompts and (independently) of outputs inflated ``inflate_factor`` x within the cap, and
    a system prompt prepended."""
    prefill, decode, applied = length_table(table)
    idx = rng.integers(0, len(prefill), n)
    p, d = prefill[idx], decode[idx]  # (copies: fancy indexing makes new arrays)
    if not applied:
        p = np.minimum(p, cap - system_prompt)
        d = np.minimum(d, cap)
        p = np.where(rng.random(n) < inflate_prob, np.minimum(p * inflate_factor, cap - system_prompt), p)
        d = np.where(rng.random(n) < inflate_prob, np.minimum(d * inflate_factor, cap), d)
        p = p + system_prompt
    return p.astype(np.int64, copy=False), np.maximum(d, 1).astype(np.int64, copy=False)


def _times_from_gaps(gaps: np.ndarray, duration: float) -> np.ndarray:
    t = np.concatenate([[0.0], np.cumsum(gaps)])
    return t[t < duration]


def sharegpt(seed: int, qps: float = 7.5, duration_s: float = 1000.0, sigma: float = 2.0,
             lengths: str = "sharegpt-glia", **recipe) -> Trace:
    """The paper's generator: log-normal gaps with ``sigma`` and mean ``1/qps``; lengths from a ShareGPT table."""
    _positive(qps=qps, duration_s=duration_s)
    rng = np.random.default_rng(seed)
    mu = math.log(1.0 / qps) - sigma * sigma / 2.0
    n_draw = int(qps * duration_s * 1.5) + 100
    t = np.empty(0)
    while True:
        gaps = rng.lognormal(mu, sigma, n_draw)
        t = _times_from_gaps(gaps, duration_s)
        if len(t) <= n_draw:  # the gaps reached past the duration
            break
        n_draw *= 2
    p, d = sample_lengths(rng, len(t), lengths, **recipe)
    return Trace(t, p, d)


def poisson(seed: int, qps: float = 7.5, duration_s: float = 1000.0, lengths: str = "sharegpt-glia",
            **recipe) -> Trace:
    """Poisson arrivals at ``qps``."""
    _positive(qps=qps, duration_s=duration_s)
    rng = np.random.default_rng(seed)
    n = rng.poisson(qps * duration_s)
    t = np.sort(rng.uniform(0.0, duration_s, n))
    p, d = sample_lengths(rng, n, lengths, **recipe)
    return Trace(t, p, d)


def sinusoidal(seed: int, qps: float = 7.5, amplitude: float = 0.5, period_s: float = 600.0,
               duration_s: float = 1800.0, lengths: str = "sharegpt-glia", phase: float = 0.0, **recipe) -> Trace:
    """Poisson arrivals whose rate follows ``qps * (1 + amplitude * sin(2 pi (t / period + phase)))`` (thinning);
    ``phase`` is a fraction of the period (0.75 starts at the trough)."""
    _positive(qps=qps, duration_s=duration_s, period_s=period_s)
    if not 0.0 <= amplitude <= 1.0:
        raise ValueError(f"amplitude must be within [0, 1], got {amplitude}")
    rng = np.random.default_rng(seed)
    peak = qps * (1.0 + amplitude)
    cand = np.sort(rng.uniform(0.0, duration_s, rng.poisson(peak * duration_s)))
    rate = qps * (1.0 + amplitude * np.sin(2.0 * math.pi * (cand / period_s + phase)))
    t = cand[rng.random(len(cand)) * peak < rate]
    p, d = sample_lengths(rng, len(t), lengths, **recipe)
    return Trace(t, p, d)


def replay(seed: int, path: str, time_scale: float = 1.0, max_requests: int | None = None,
           duration_s: float | None = None) -> Trace:
    """Replay a trace CSV (``arrived_at,num_prefill_tokens,num_decode_tokens``); ``time_scale`` < 1 compresses
    time (raises the load). The seed is unused: a replay is the trace itself."""
    p = Path(path)
    if not p.is_absolute() and not p.is_file():
        p = DATA / "traces" / path
    if not p.is_file():
        raise ValueError(f"trace file not found: {path}")
    arrived, prefill, decode = _read_columns(p)
    if len(arrived) != len(prefill):
        raise ValueError(f"{path}: needs an arrived_at column to be replayed")
    order = np.argsort(arrived, kind="stable")
    arrived, prefill, decode = (arrived[order] - arrived[order][0]) * time_scale, prefill[order], decode[order]
    keep = np.ones(len(arrived), dtype=bool)
    if duration_s is not None:
        keep &= arrived < duration_s
    if max_requests is not None:
        keep[max_requests:] = False
    return Trace(arrived[keep], prefill[keep], np.maximum(decode[keep], 1))


def closed_loop(seed: int, users: int = 32, think_time_s: float = 5.0, duration_s: float = 600.0,
                lengths: str = "sharegpt-glia", **recipe) -> ClosedLoop:
    """``users`` concurrent users with exponential think times of mean ``think_time_s``."""
    _positive(users=users, duration_s=duration_s)
    rng = np.random.default_rng(seed)
    n = users * 4096
    p, d = sample_lengths(rng, n, lengths, **recipe)
    return ClosedLoop(users, think_time_s, duration_s, p, d, rng.exponential(max(think_time_s, 0.0), n))


def explicit(seed: int, requests: list) -> Trace:
    """A fixed list of ``[arrived_at, num_prefill_tokens, num_decode_tokens]`` (for experiments and tests)."""
    rows = sorted((float(t), int(p), int(d)) for t, p, d in requests)
    if any(p < 1 or d < 1 or t < 0 for t, p, d in rows):
        raise ValueError("explicit requests need arrived_at >= 0 and token counts >= 1")
    arr = np.array(rows, dtype=float).reshape(-1, 3)
    return Trace(arr[:, 0], arr[:, 1].astype(np.int64), arr[:, 2].astype(np.int64))


def _positive(**values: float) -> None:
    for k, v in values.items():
        if not v > 0:
            raise ValueError(f"{k} must be > 0, got {v}")


# the generators by name (``WorkloadSpec.kind``; the spec itself is a setting, in ``config.py``)
GENERATORS = {"sharegpt": sharegpt, "poisson": poisson, "sinusoidal": sinusoidal, "replay": replay,
              "closed_loop": closed_loop, "requests": explicit}
