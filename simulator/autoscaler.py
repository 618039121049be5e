"""The autoscaling layer: the platform's mechanics (``AutoscalingConfig``) and the policy API (``BaseAutoscaler``).

At each control tick the policy sees a ``ClusterView`` and returns the replica count it wants (serving plus
starting). The platform, not the policy, owns the mechanics, as in production (Kubernetes' HPA or KEDA on a
serving deployment): the count is clamped to ``[min_replicas, max_replicas]``; a scale-down is held back until the
policy has asked for no more than the new count for ``scale_down_stabilisation_s`` (HPA's stabilisation window); a
started replica accepts requests only after ``cold_start_s``; a replica scaled down stops taking requests, finishes
what it holds (drains) and is then released, a starting one is cancelled first. GPU-hours count every replica from
the moment it is requested until it is released. The API is documented in ``simulator/autoscaler_api.md``.
"""

from __future__ import annotations

import dataclasses
import math
import random
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class AutoscalingConfig:
    """The platform's mechanics and the policy that drives them (``policy``: a built-in name or
    ``PATH.py[:Class]``; ``params``: keyword arguments of a built-in)."""

    policy: str = "threshold"
    params: dict = field(default_factory=dict)
    interval_s: float = 30.0
    cold_start_s: float = 90.0
    min_replicas: int = 1
    max_replicas: int = 16
    scale_down_stabilisation_s: float = 0.0

    def __post_init__(self):
        if not 1 <= self.min_replicas <= self.max_replicas:
            raise ValueError(f"autoscaling needs 1 <= min_replicas <= max_replicas, got {self.min_replicas} and "
                             f"{self.max_replicas}")
        if self.interval_s <= 0 or self.cold_start_s < 0 or self.scale_down_stabilisation_s < 0:
            raise ValueError("autoscaling needs interval_s > 0, cold_start_s >= 0, scale_down_stabilisation_s >= 0")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> AutoscalingConfig:
        """From a settings dict: the platform's fields, ``policy`` (or ``kind``), ``params``; any other key is a
        parameter of the built-in policy."""
        data = dict(data)
        policy = data.pop("policy", data.pop("kind", "threshold"))
        params = dict(data.pop("params", {}))
        names = {f.name for f in dataclasses.fields(cls)} - {"policy", "params"}
        platform = {k: data.pop(k) for k in list(data) if k in names}
        return cls(policy=policy, params={**params, **data}, **platform)


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


def _clamp(view: ClusterView, want: int) -> int:
    return max(view.min_replicas, min(view.max_replicas, want))


class ThroughputThresholdAutoscaler(BaseAutoscaler):
    """Production-style baseline: add a replica when per-replica decode throughput (or the waiting line) is above
    a high mark, remove one when throughput is below a low mark; no action within ``cooldown_s`` of the last."""

    def __init__(self, config: Any = None, high_tokens_per_s: float = 700.0, low_tokens_per_s: float = 250.0,
                 max_waiting_per_replica: float = 5.0, cooldown_s: float = 120.0):
        super().__init__(config)
        if not 0 <= low_tokens_per_s < high_tokens_per_s:
            raise ValueError("autoscaler thresholds need 0 <= low < high")
        self.high, self.low = high_tokens_per_s, low_tokens_per_s
        self.max_waiting = max_waiting_per_replica
        self.cooldown_s = cooldown_s
        self._last_action = -float("inf")

    def desired_replicas(self, view: ClusterView) -> int:
        current = view.serving + view.starting
        if view.now - self._last_action < self.cooldown_s:
            return current
        want = current
        if view.decode_tokens_per_s > self.high or view.waiting > self.max_waiting * max(view.serving, 1):
            want = current + 1
        elif view.decode_tokens_per_s < self.low and view.waiting == 0:
            want = current - 1
        want = _clamp(view, want)
        if want != current:
            self._last_action = view.now
        return want


class QueueLengthAutoscaler(BaseAutoscaler):
    """Kubernetes' HPA (through KEDA) on vLLM's waiting-requests metric: ``ceil(current * waiting per replica /
    target)``, nothing within a 10 % tolerance of the target, and HPA's default scale-down stabilisation: it scales
    down only to the highest count it recommended over the last ``stabilisation_s`` (300 s)."""

    def __init__(self, config: Any = None, target_waiting_per_replica: float = 5.0, tolerance: float = 0.1,
                 stabilisation_s: float = 300.0):
        super().__init__(config)
        if target_waiting_per_replica <= 0:
            raise ValueError("the queue autoscaler needs target_waiting_per_replica > 0")
        self.target, self.tolerance, self.window = target_waiting_per_replica, tolerance, stabilisation_s
        self._recommended: list[tuple[float, int]] = []

    def desired_replicas(self, view: ClusterView) -> int:
        current = view.serving + view.starting
        ratio = view.waiting / max(view.serving, 1) / self.target
        want = current if abs(ratio - 1.0) <= self.tolerance else _clamp(view, math.ceil(current * ratio))
        self._recommended = [(t, w) for t, w in self._recommended if t > view.now - self.window]
        self._recommended.append((view.now, want))
        return want if want >= current else min(current, max(w for _, w in self._recommended))


AUTOSCALERS: dict[str, type[BaseAutoscaler]] = {
    "threshold": ThroughputThresholdAutoscaler,
    "queue": QueueLengthAutoscaler,
}


def make_builtin_autoscaler(name: str, params: dict, config: Any = None) -> BaseAutoscaler:
    """A built-in autoscaler with its parameters; a clear error for an unknown name or a bad parameter."""
    try:
        cls = AUTOSCALERS[name]
    except KeyError:
        raise ValueError(f"unknown autoscaler {name!r}; known: {', '.join(AUTOSCALERS)}") from None
    try:
        return cls(config, **params)
    except TypeError as exc:
        raise ValueError(f"bad autoscaler parameters: {exc}") from None
