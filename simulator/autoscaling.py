"""The autoscaling platform's mechanics, which the platform owns and no policy changes: the replica bounds, the
control interval, the cold start and the scale-down stabilisation window (the policy API is in
``policy/autoscaler.py``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


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
