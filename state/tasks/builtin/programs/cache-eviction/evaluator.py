"""OpenEvolve evaluator of the cache-eviction problem: replays request traces through a cache the evaluator owns,
asking the candidate's ``EvictionPolicy`` which objects to evict on each miss.

Everything the score rests on is computed here: which objects are cached, hits, bytes, the references (LRU and
Belady's farthest-next-use, computed by the evaluator itself). The policy only names victims; a victim that is not
in the cache, a duplicate, a non-integer key or a policy that raises makes the program invalid (``validity`` 0,
``combined_score`` 0) with the reason in the artifacts.

Splits (environment variable ``CACHE_SPLIT``, or the ``split`` keyword of ``evaluate``): ``train`` (default),
``heldout`` (other seeds), ``shifted`` (other workload families and cache sizes). ``evaluate_stage1`` runs one short
trace (the cascade's first stage), ``evaluate_stage2`` the split.
"""

from __future__ import annotations

import heapq
import importlib.util
import os
import sys
import time
import traceback
from collections import OrderedDict

from traces import split_traces

if "openevolve.evaluation_result" in sys.modules:  # run by OpenEvolve: its own class, which it recognises
    EvaluationResult = sys.modules["openevolve.evaluation_result"].EvaluationResult
else:  # run on its own or by Glia: the same two fields, without importing all of OpenEvolve (seconds)
    class EvaluationResult:
        def __init__(self, metrics: dict, artifacts: dict | None = None):
            self.metrics, self.artifacts = metrics, artifacts or {}


class InvalidPolicy(Exception):
    """The policy broke the rules of the interface."""


def _load(program_path: str):
    spec = importlib.util.spec_from_file_location("candidate_program", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "EvictionPolicy"):
        raise InvalidPolicy("the program defines no EvictionPolicy class")
    return module


def replay(policy, requests: list, capacity: int) -> dict:
    """Replay ``requests`` through a cache of ``capacity`` whose evictions ``policy`` chooses."""
    cache: dict[int, int] = {}
    free = capacity
    hits = hit_bytes = total_bytes = evictions = bypasses = 0
    for t, (key, size) in enumerate(requests):
        hit = key in cache
        total_bytes += size
        victims = policy.on_request(key, size, hit, free)
        if hit:
            hits += 1
            hit_bytes += size
            if victims:
                raise InvalidPolicy(f"request {t} (key {key}) was a hit, yet the policy returned victims {victims!r}")
            continue
        if not isinstance(victims, (list, tuple)):
            raise InvalidPolicy(f"request {t}: on_request returned {type(victims).__name__}, not a list of keys")
        seen = set()
        for v in victims:
            if isinstance(v, bool) or not isinstance(v, int):
                raise InvalidPolicy(f"request {t}: victim {v!r} is not an integer key")
            if v not in cache or v in seen:
                raise InvalidPolicy(f"request {t}: victim {v} is not in the cache" + (" (named twice)" if v in seen
                                                                                        else ""))
            seen.add(v)
        for v in victims:
            free += cache.pop(v)
        evictions += len(victims)
        if size <= free:
            cache[key] = size
            free -= size
        else:
            bypasses += 1
    n = len(requests)
    return {"hits": hits, "hit_ratio": hits / n, "byte_hit_ratio": hit_bytes / total_bytes, "evictions": evictions,
            "bypasses": bypasses}


def lru_hit_ratio(requests: list, capacity: int) -> float:
    order: OrderedDict[int, int] = OrderedDict()
    free, hits = capacity, 0
    for key, size in requests:
        if key in order:
            hits += 1
            order.move_to_end(key)
            continue
        while free < size and order:
            free += order.popitem(last=False)[1]
        if size <= free:
            order[key] = size
            free -= size
    return hits / len(requests)


def belady_hit_ratio(requests: list, capacity: int) -> float:
    """Farthest next use first (optimal for equal sizes; a strong reference, not a bound, with unequal ones)."""
    n = len(requests)
    next_use = [n] * n
    last: dict[int, int] = {}
    for t in range(n - 1, -1, -1):
        key = requests[t][0]
        next_use[t] = last.get(key, n + t)  # never again: farther than anything
        last[key] = t
    cache: dict[int, tuple[int, int]] = {}  # key -> (size, next use)
    heap: list[tuple[int, int]] = []
    free, hits = capacity, 0
    for t, (key, size) in enumerate(requests):
        if key in cache:
            hits += 1
            cache[key] = (size, next_use[t])
            heapq.heappush(heap, (-next_use[t], key))
            continue
        while free < size and heap:
            neg, victim = heapq.heappop(heap)
            if victim in cache and cache[victim][1] == -neg:
                free += cache.pop(victim)[0]
        if size <= free and next_use[t] < n:
            cache[key] = (size, next_use[t])
            heapq.heappush(heap, (-next_use[t], key))
            free -= size
    return hits / n


def _run(program_path: str, split: str) -> EvaluationResult:
    start = time.perf_counter()
    traces = split_traces(split)
    rows, error = [], ""
    try:
        module = _load(program_path)
        for tr in traces:
            policy = module.EvictionPolicy(tr["capacity"])
            t0 = time.perf_counter()
            res = replay(policy, tr["requests"], tr["capacity"])
            rows.append({"trace": tr["name"], "family": tr["family"], "requests": len(tr["requests"]),
                         "capacity": tr["capacity"], "hit_ratio": round(res["hit_ratio"], 6),
                         "byte_hit_ratio": round(res["byte_hit_ratio"], 6),
                         "lru_hit_ratio": round(lru_hit_ratio(tr["requests"], tr["capacity"]), 6),
                         "belady_hit_ratio": round(belady_hit_ratio(tr["requests"], tr["capacity"]), 6),
                         "evictions": res["evictions"], "bypasses": res["bypasses"],
                         "policy_s": round(time.perf_counter() - t0, 4)})
    except InvalidPolicy as exc:
        error = f"invalid policy: {exc}"
    except Exception as exc:  # the program raised: invalid, with its traceback
        error = f"the policy raised {type(exc).__name__}: {exc}\n{traceback.format_exc()}"
    elapsed = time.perf_counter() - start
    if error:
        return EvaluationResult(
            metrics={"combined_score": 0.0, "validity": 0.0, "eval_time": elapsed},
            artifacts={"error": error, "split": split, "traces": rows})
    mean = lambda key: sum(r[key] for r in rows) / len(rows)  # noqa: E731
    hit, lru, bel = mean("hit_ratio"), mean("lru_hit_ratio"), mean("belady_hit_ratio")
    worst = min(rows, key=lambda r: r["hit_ratio"] - r["lru_hit_ratio"])
    summary = "\n".join(
        [f"split {split}: mean hit ratio {hit:.4f} (LRU {lru:.4f}, Belady {bel:.4f})"]
        + [f"  {r['trace']:<16} hit {r['hit_ratio']:.4f}  LRU {r['lru_hit_ratio']:.4f}  Belady "
           f"{r['belady_hit_ratio']:.4f}  bytes {r['byte_hit_ratio']:.4f}  evictions {r['evictions']}  "
           f"bypasses {r['bypasses']}" for r in rows]
        + [f"worst against LRU: {worst['trace']} ({worst['hit_ratio'] - worst['lru_hit_ratio']:+.4f})"])
    return EvaluationResult(
        metrics={"combined_score": hit, "hit_ratio": hit, "byte_hit_ratio": mean("byte_hit_ratio"),
                 "lru_hit_ratio": lru, "belady_hit_ratio": bel, "gain_over_lru": hit - lru,
                 "gap_to_belady": bel - hit, "validity": 1.0, "eval_time": elapsed},
        artifacts={"traces": rows, "summary": summary, "split": split})


def _split(split: str | None) -> str:
    return split or os.environ.get("CACHE_SPLIT", "train")


def evaluate(program_path: str, split: str | None = None) -> EvaluationResult:
    """The whole evaluation of one split (``CACHE_SPLIT``: train, heldout, shifted)."""
    return _run(program_path, _split(split))


def evaluate_stage1(program_path: str) -> EvaluationResult:
    """The cascade's first stage: one short trace; a program that breaks the rules or scores nothing stops here."""
    return _run(program_path, "smoke")


def evaluate_stage2(program_path: str) -> EvaluationResult:
    return _run(program_path, _split(None))
