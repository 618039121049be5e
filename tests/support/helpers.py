"""Helpers shared by the tests."""

from __future__ import annotations

from glia.simulator.config import ClusterConfig, SimulationConfig
from glia.simulator.workloads import WorkloadSpec


def small_config(requests, num_blocks=64, chunk_size=8192, batch_size_cap=128, watermark=0.0, **cluster):
    """A one-replica A10 cluster serving an explicit list of (arrived_at, prompt, decode)."""
    return SimulationConfig(
        ClusterConfig(num_replicas=cluster.pop("num_replicas", 1), num_blocks=num_blocks, chunk_size=chunk_size,
                      batch_size_cap=batch_size_cap, watermark_fraction=watermark, **cluster),
        WorkloadSpec("requests", {"requests": [list(r) for r in requests]}), sample_interval_s=0.5)


# a design as a model writes it in a reply: route to the replica with the fewest KV blocks in use
BY_BLOCKS_REPLY = """```python
from glia.simulator import BaseGlobalScheduler


class ByBlocks(BaseGlobalScheduler):
    def schedule(self):
        self.sort_requests()
        out = []
        while self._request_queue:
            rid = min(self._replica_schedulers, key=lambda i: self._replica_schedulers[i].num_allocated_blocks)
            out.append((rid, self._request_queue.pop(0)))
        return out
```"""


def seed_isolation() -> str:
    """What a seed process of this machine confines itself with (the mechanisms it applies that the machine offers),
    as ``SeedOutcome.isolation`` names it: read from the machine, not written as one machine's string."""
    from glia.simulator.isolation import confine
    iso = confine.available()
    return "+".join(m for m in confine.MECHANISMS if m in ("landlock", "userns", "seccomp") and iso.has(m)) or "none"
