"""The engine's full outputs pinned bit for bit: every per-request column, the run's totals, the samples, the event
log and the scaling actions of every preset (the standard stack, seeds 0 and 1) and of the other built-in routers,
as digests computed with the engine before it was made faster (commit 942f207). A change to the engine that moves
any figure by one ulp, or reorders one event, fails here; ``test_engine.py`` pins the summary figures.

Regenerate (only when a change of results is intended, and say so in the commit):

    python tests/simulator/test_engine_outputs.py
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest

from glia.simulator.engine import RunResult, Simulation
from glia.simulator.policy.loader import load_policy
from glia.simulator.presets import PRESETS, get_preset


def _plain(x) -> str:
    """One value of a record, spelt exactly (floats in hex, so that digests compare bits, not printed digits)."""
    if isinstance(x, (float, np.floating)):
        return float(x).hex() if math.isfinite(x) else repr(float(x))
    if isinstance(x, (bool, np.bool_)):
        return repr(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    return repr(x)


def digest(run: RunResult) -> str:
    """sha256 of everything a run produced, first 16 hex digits."""
    h = hashlib.sha256()
    for name in sorted(run.requests):
        col = np.asarray(run.requests[name])
        h.update(f"{name}:{col.dtype.kind}{len(col)}:".encode())
        h.update(np.ascontiguousarray(col.astype(np.float64 if col.dtype.kind == "f" else np.int64)).tobytes())
    for x in (run.seed, run.makespan_s, run.gpu_hours, run.busy_s, run.replica_seconds, run.num_preemptions):
        h.update(_plain(x).encode() + b";")
    for records in (run.samples, run.events, run.scaling):
        h.update(f"#{len(records)}".encode())
        for rec in records:
            h.update(",".join(_plain(x) for x in rec).encode() + b"\n")
    return h.hexdigest()[:16]


def _run(preset: str, policy: str, seed: int, fast: bool = True) -> RunResult:
    """``preset`` may name another batch policy and autoscaler: ``NAME:BATCH:AUTOSCALER``."""
    name, *stack = preset.split(":")
    config = get_preset(name).with_stack(*stack) if stack else get_preset(name)
    return Simulation(config, load_policy(policy), seed=seed, fast=fast).run()


# (preset, router, seed, fast) -> digest, computed at 942f207 (before the engine's speed-up)
CASES = [*((p, "llq", s, True) for p in PRESETS for s in (0, 1)),
         *(("paper-routing-short", p, 0, True) for p in ("hra", "lor", "random", "round_robin")),
         ("paper-routing-short", "llq", 0, False), ("diurnal-autoscale:spf:queue", "llq", 0, True),
         ("slo-prefill:spf", "llq", 0, True)]
DIGESTS = {
    ('paper-routing', 'llq', 0, True): '4cdbd4416cf35647',
    ('paper-routing', 'llq', 1, True): '4e86c3618c086409',
    ('paper-routing-short', 'llq', 0, True): 'e6f9b5b0bd50fb18',
    ('paper-routing-short', 'llq', 1, True): 'd689f1d70863ecd6',
    ('sharegpt-recipe', 'llq', 0, True): '551009b3cb932543',
    ('sharegpt-recipe', 'llq', 1, True): 'fcdfce0b941db2a0',
    ('poisson-a100', 'llq', 0, True): 'c709b2d444163d60',
    ('poisson-a100', 'llq', 1, True): '4acd77d7af4ddc2b',
    ('splitwise-conv', 'llq', 0, True): 'c5a71ed65148ce44',
    ('splitwise-conv', 'llq', 1, True): 'a79bc4151c1afbca',
    ('llama70b-h100', 'llq', 0, True): '784c6d7e343e2288',
    ('llama70b-h100', 'llq', 1, True): 'ff600d4d7d68a593',
    ('closed-loop', 'llq', 0, True): '5fce16a1c1032d90',
    ('closed-loop', 'llq', 1, True): '316b22441ae971e0',
    ('diurnal-autoscale', 'llq', 0, True): '20265be91acd8aae',
    ('diurnal-autoscale', 'llq', 1, True): 'f76ecfe1ae729c68',
    ('autoscale-sinusoid', 'llq', 0, True): 'd51cddf1dca86d09',
    ('autoscale-sinusoid', 'llq', 1, True): 'ad1b94c241c01783',
    ('slo-prefill', 'llq', 0, True): '56aaa6e9263a2c6a',
    ('slo-prefill', 'llq', 1, True): '0dfcef536ff6de37',
    ('slo-prefill-open', 'llq', 0, True): '75a76f1bab5a6d44',
    ('slo-prefill-open', 'llq', 1, True): 'c9f7a38ea1232ae9',
    ('abundant-kv', 'llq', 0, True): '92aee9e5d00f772f',
    ('abundant-kv', 'llq', 1, True): '52df086b0ef8f13f',
    ('paper-routing-short', 'hra', 0, True): '3b5b75d5fdd4e25a',
    ('paper-routing-short', 'lor', 0, True): 'c46bb79bfc4f9385',
    ('paper-routing-short', 'random', 0, True): 'd155197c7f634f39',
    ('paper-routing-short', 'round_robin', 0, True): '39a7a2f422442fb3',
    ('paper-routing-short', 'llq', 0, False): '88685ab656d00352',
    ('diurnal-autoscale:spf:queue', 'llq', 0, True): '176f85ce1da8bc92',
    ('slo-prefill:spf', 'llq', 0, True): 'a636ad92356118d2',
}


@pytest.mark.parametrize("preset,policy,seed,fast", CASES)
def test_full_outputs_are_bit_identical(preset, policy, seed, fast):
    assert digest(_run(preset, policy, seed, fast)) == DIGESTS[preset, policy, seed, fast]


if __name__ == "__main__":
    import time
    for case in CASES:
        start = time.perf_counter()
        d = digest(_run(*case))
        print(f"    {case!r}: {d!r},  # {time.perf_counter() - start:.1f} s", flush=True)
