"""The autoscaling layer's policy API (``BaseAutoscaler``, with ``ClusterView``); the platform's mechanics are
``AutoscalingConfig`` (``simulator/autoscaling.py``), the built-ins ``policy/builtin/autoscalers.py``.

At each control tick the policy sees a ``ClusterView`` and returns the replica count it wants (serving plus
starting). The platform, not the policy, owns the mechanics, as in production (Kubernetes' HPA or KEDA on a
serving deployment): the count is clamped to ``[min_replicas, max_replicas]``; a scale-down is held back until the
policy has asked for no more than the new count for ``scale_down_stabilisation_s`` (HPA's stabilisation window); a
started replica accepts requests only after ``cold_start_s``; a replica scaled down stops taking requests, finishes
what it holds (drains) and is then released, a starting one is cancelled first. GPU-hours count every replica from
the moment it is requested until it is released. The API is documented in ``simulator/policy/autoscaler_api.md``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ReplicaLoad:
    """One serving replica at a control tick."""

    replica_id: int
    pending: int            # requests routed to it, not yet admitted
    active: int             # requests holding KV blocks
    allocated_blocks: int
    num_blocks: int


@dataclass(frozen=True)
class ClusterView:
    """What an autoscaler sees at a control tick (rates are over the last tick)."""

    now: float
    serving: int                # replicas accepting requests
    starting: int               # replicas in cold start
    draining: int               # replicas finishing their work before release
    waiting: int                # requests in the global queue and in serving replicas' pending queues
    running: int                # requests holding KV blocks on serving replicas
    kv_utilisation: float       # allocated / total blocks over serving replicas
    decode_tokens_per_s: float  # output tokens completed per second over the last tick, per serving replica
    arrivals_per_s: float = 0.0     # requests that arrived per second over the last tick
    completions_per_s: float = 0.0  # requests completed per second over the last tick
    min_replicas: int = 1
    max_replicas: int = 16
    interval_s: float = 30.0
    cold_start_s: float = 90.0
    replicas: tuple[ReplicaLoad, ...] = ()

    @property
    def in_flight(self) -> int:
        """Requests waiting or running."""
        return self.waiting + self.running


class BaseAutoscaler:
    """Base class of autoscaling policies: ``desired_replicas(view)`` returns the replica count wanted now.

    Readable state: ``_config`` (the cluster settings, the autoscaling platform's settings and the seed) and ``rng``
    (seeded with the run's seed).
    """

    def __init__(self, config: Any = None):
        self._config = config
        self.rng = random.Random(getattr(config, "seed", 0))

    def desired_replicas(self, view: ClusterView) -> int:
        raise NotImplementedError
