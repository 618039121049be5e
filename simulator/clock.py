"""The simulated clock and the event log the engine shares with its replicas (apart, so that replicas need not import
the engine that builds them)."""

from __future__ import annotations


class Clock:
    """Simulated time, shared by the engine and its replicas."""

    __slots__ = ("now",)

    def __init__(self):
        self.now = 0.0


class Log:
    """Scheduling events and counters, appended as plain tuples: (time, kind, request id, replica id, value)."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.events: list[tuple[float, str, int, int, int]] = []

    def add(self, t: float, kind: str, rid: int, replica: int, value: int = 0) -> None:
        if self.enabled:
            self.events.append((t, kind, rid, replica, value))
