"""The request traces of the cache-eviction problem, generated deterministically (the same trace on every machine,
every run): each trace is a list of (key, size) requests and a cache capacity.

Families:
- ``web``: Zipf popularity (alpha 0.9) over 2,000 objects whose hot set drifts every 1,000 requests.
- ``scan``: Zipf traffic with a quarter of the requests in sequential scans of cold objects (LRU's weakness).
- ``loop``: a loop over a working set a little larger than the cache, mixed with Zipf traffic.
The ``shifted`` split changes the mix: longer scans, objects several times larger, a flash crowd.

Splits: ``train`` (what the search sees), ``heldout`` (the same families, other seeds), ``shifted`` (other
families), and ``smoke`` (one short trace, the cascade's first stage).
"""

from __future__ import annotations

import bisect
import random

SPLITS = {
    "smoke": [("web", 0, 800, 0.10)],
    "train": [("web", 1, 3000, 0.08), ("scan", 2, 3000, 0.10), ("loop", 3, 3000, 0.10)],
    "heldout": [("web", 101, 3000, 0.08), ("scan", 102, 3000, 0.10), ("loop", 103, 3000, 0.10)],
    "shifted": [("scan-heavy", 201, 3000, 0.10), ("big-objects", 202, 3000, 0.06), ("flash-crowd", 203, 3000, 0.08)],
}


def _sizes(rng: random.Random, n: int, mu: float = 1.5, sigma: float = 0.9, cap: int = 64) -> list[int]:
    return [max(1, min(cap, int(rng.lognormvariate(mu, sigma)))) for _ in range(n)]


def _zipf(rng: random.Random, n_keys: int, alpha: float):
    cum, total = [], 0.0
    for i in range(n_keys):
        total += 1.0 / (i + 1) ** alpha
        cum.append(total)

    def draw() -> int:
        return bisect.bisect_left(cum, rng.random() * total)
    return draw


def make_trace(family: str, seed: int, n: int, cache_fraction: float) -> tuple[list[tuple[int, int]], int]:
    """The requests (key, size) of one trace and its cache capacity (a fraction of the bytes of its objects)."""
    rng = random.Random(f"{family}-{seed}")
    big = family == "big-objects"
    n_keys = 2000
    sizes = _sizes(rng, 6000, mu=2.6 if big else 1.5, sigma=0.8 if big else 0.9, cap=200 if big else 64)
    ranks = list(range(n_keys))
    rng.shuffle(ranks)
    draw = _zipf(rng, n_keys, 0.9 if family in ("web", "big-objects", "flash-crowd") else 0.8)
    keys: list[int] = []
    scan_next, loop_pos = 3000, 0
    scan_left = 0
    scan_share = {"scan": 0.25, "scan-heavy": 0.45}.get(family, 0.0)
    scan_len = 400 if family == "scan-heavy" else 200
    for t in range(n):
        if family in ("web", "flash-crowd") and t and t % 1000 == 0:  # the hot set drifts
            top = ranks[:200]
            rng.shuffle(top)
            ranks[:200] = top
        if family == "flash-crowd" and t == n // 2:  # a crowd arrives at new objects
            ranks = list(range(4000, 4000 + n_keys))
            rng.shuffle(ranks)
        if scan_left == 0 and scan_share and rng.random() < scan_share / scan_len:
            scan_left = scan_len
        if scan_left:
            keys.append(scan_next)
            scan_next = 3000 + (scan_next - 3000 + 1) % 2000
            scan_left -= 1
        elif family == "loop" and rng.random() < 0.6:
            keys.append(5000 + loop_pos)
            loop_pos = (loop_pos + 1) % 600
        else:
            keys.append(ranks[draw()])
    requests = [(k, sizes[k % len(sizes)]) for k in keys]
    distinct = sum(sizes[k % len(sizes)] for k in set(keys))
    return requests, max(64, int(distinct * cache_fraction))


def split_traces(split: str) -> list[dict]:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; one of {', '.join(SPLITS)}")
    out = []
    for family, seed, n, frac in SPLITS[split]:
        requests, capacity = make_trace(family, seed, n, frac)
        out.append({"name": f"{family}-{seed}", "family": family, "requests": requests, "capacity": capacity})
    return out
