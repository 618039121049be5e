"""Autoscaling hook: a periodic control tick decides how many replicas should serve.

Scale-up starts a replica that accepts requests only after a cold-start delay; scale-down stops routing to the
least-loaded replica, which finishes what it holds and is then released. GPU-hours count every replica from the
moment it is requested until it is released.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClusterView:
    """What an autoscaler sees at a control tick."""

    now: float
    serving: int            # replicas accepting requests
    starting: int           # replicas in cold start
    draining: int           # replicas finishing their work before release
    waiting: int            # requests in the global queue and in replicas' pending queues
    running: int            # requests holding KV blocks
    kv_utilisation: float   # allocated / total blocks over serving replicas
    decode_tokens_per_s: float  # output tokens completed per second over the last tick, per serving replica


class Autoscaler:
    """Base class: returns the desired number of replicas (serving + starting) at each tick."""

    interval_s: float = 30.0
    cold_start_s: float = 90.0
    min_replicas: int = 1
    max_replicas: int = 16

    def desired_replicas(self, view: ClusterView) -> int:
        raise NotImplementedError


class ThroughputThresholdAutoscaler(Autoscaler):
    """Production-style baseline: add a replica when per-replica decode throughput (or the waiting line) is above
    a high mark, remove one when throughput is below a low mark; no action within ``cooldown_s`` of the last."""

    def __init__(self, high_tokens_per_s: float = 700.0, low_tokens_per_s: float = 250.0,
                 max_waiting_per_replica: float = 5.0, cooldown_s: float = 120.0, interval_s: float = 30.0,
                 cold_start_s: float = 90.0, min_replicas: int = 1, max_replicas: int = 16):
        if not 0 <= low_tokens_per_s < high_tokens_per_s:
            raise ValueError("autoscaler thresholds need 0 <= low < high")
        if not 1 <= min_replicas <= max_replicas:
            raise ValueError("autoscaler needs 1 <= min_replicas <= max_replicas")
        self.high, self.low = high_tokens_per_s, low_tokens_per_s
        self.max_waiting = max_waiting_per_replica
        self.cooldown_s, self.interval_s, self.cold_start_s = cooldown_s, interval_s, cold_start_s
        self.min_replicas, self.max_replicas = min_replicas, max_replicas
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
        want = max(self.min_replicas, min(self.max_replicas, want))
        if want != current:
            self._last_action = view.now
        return want


AUTOSCALERS = {"threshold": ThroughputThresholdAutoscaler}


def make_autoscaler(spec: dict | None) -> Autoscaler | None:
    """``{"kind": "threshold", ...params}`` -> an autoscaler; None for a fixed cluster."""
    if not spec:
        return None
    params = dict(spec)
    kind = params.pop("kind", "threshold")
    try:
        return AUTOSCALERS[kind](**params)
    except KeyError:
        raise ValueError(f"unknown autoscaler {kind!r}; known: {', '.join(AUTOSCALERS)}") from None
    except TypeError as exc:
        raise ValueError(f"bad autoscaler parameters: {exc}") from None
