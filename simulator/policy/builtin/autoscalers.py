"""The built-in autoscalers, by name: a throughput threshold and a queue length (``AUTOSCALERS``)."""

from __future__ import annotations

import math
from typing import Any

from glia.simulator.policy.autoscaler import BaseAutoscaler, ClusterView


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
