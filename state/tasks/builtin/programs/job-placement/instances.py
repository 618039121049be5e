"""The instances of the job-placement problem, generated deterministically: a heterogeneous cluster and a stream of
batch jobs.

A machine has ``cores``, ``mem_gb`` and a ``speed`` (a job of ``work`` seconds runs ``work / speed`` seconds there).
A job has a ``release`` time (it cannot start before), ``cores``, ``mem_gb`` and ``work``. Durations are heavy-tailed
(most jobs short, a few very long); some jobs need a big machine.

Splits: ``train`` (what the search sees), ``heldout`` (the same kind, other seeds), ``shifted`` (a burstier load,
more memory-heavy jobs, a different machine pool).
"""

from __future__ import annotations

import random

SPLITS = {
    "train": [("steady", s) for s in range(0, 5)],
    "heldout": [("steady", s) for s in range(100, 105)],
    "shifted": [("bursty", s) for s in range(200, 203)] + [("memory", s) for s in range(300, 302)],
}

POOLS = {
    "steady": [(16, 64, 1.0)] * 4 + [(32, 256, 0.7)] * 2 + [(8, 32, 1.6)] * 2,
    "bursty": [(16, 64, 1.0)] * 4 + [(32, 256, 0.7)] * 2 + [(8, 32, 1.6)] * 2,
    "memory": [(16, 128, 1.0)] * 3 + [(64, 512, 0.6)] * 1 + [(8, 32, 1.8)] * 4,
}


def make_instance(kind: str, seed: int) -> dict:
    rng = random.Random(f"{kind}-{seed}")
    machines = [{"id": i, "cores": c, "mem_gb": m, "speed": s} for i, (c, m, s) in enumerate(POOLS[kind])]
    n_jobs = 220 if kind == "steady" else 200
    jobs, t = [], 0.0
    for j in range(n_jobs):
        if kind == "bursty":
            t += rng.expovariate(1 / 0.4) if (j // 40) % 2 == 0 else rng.expovariate(1 / 6.0)
        else:
            t += rng.expovariate(1 / 1.3)
        big = rng.random() < (0.3 if kind == "memory" else 0.12)
        cores = rng.choice([8, 16, 24, 32]) if big else rng.choice([1, 1, 2, 2, 4, 4, 8])
        mem = rng.choice([48, 96, 160, 240]) if big else rng.choice([1, 2, 4, 8, 16, 24])
        if kind == "memory" and big:
            mem = rng.choice([96, 200, 320, 480])
        work = min(600.0, rng.lognormvariate(2.3, 1.2)) * (2.0 if big else 1.0)
        jobs.append({"id": j, "release": round(t, 3), "cores": cores, "mem_gb": mem, "work": round(work, 3)})
    return {"name": f"{kind}-{seed}", "kind": kind, "machines": machines, "jobs": jobs}


def split_instances(split: str) -> list[dict]:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; one of {', '.join(SPLITS)}")
    return [make_instance(kind, seed) for kind, seed in SPLITS[split]]
