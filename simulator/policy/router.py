"""The global scheduler API that routing policies implement (vidur's, so a policy runs unchanged in both).

``schedule()`` is called after every arrival and every iteration that completed a request. It returns
``(replica_id, request)`` pairs and pops the requests it routes from ``self._request_queue``; requests it leaves in the
queue wait there (held) until a later call routes them.
"""

from __future__ import annotations

import random
from typing import Any

from glia.simulator.request import Request


class BaseGlobalScheduler:
    """Base class of routing policies.

    Readable state: ``_request_queue`` (requests waiting for a route), ``_num_replicas``, ``_replica_schedulers``
    (replica id -> replica scheduler), ``sort_requests()``, ``_config`` (the cluster settings and the seed) and
    ``rng``, a ``random.Random`` seeded with the run's seed (use it for any randomness, so that a run is reproducible
    whatever else the process did). The whole API is in ``simulator/policy/policy_api.md``.
    """

    def __init__(self, config: Any = None, replicas: dict | None = None):
        self._config = config
        self.rng = random.Random(getattr(config, "seed", 0))
        self._replica_schedulers: dict[int, Any] = dict(replicas or {})
        self._num_replicas = len(self._replica_schedulers)
        self._request_queue: list[Request] = []

    def sort_requests(self) -> None:
        """Order the waiting requests by arrival time."""
        if len(self._request_queue) > 1:  # (most calls: one request, which sorting would still read)
            self._request_queue.sort(key=lambda r: r.arrived_at)

    def add_request(self, request: Request) -> None:
        self._request_queue.append(request)

    def is_empty(self) -> bool:
        return not self._request_queue

    def get_replica_scheduler(self, replica_id: int):
        return self._replica_schedulers[replica_id]

    def schedule(self) -> list[tuple[int, Request]]:
        raise NotImplementedError

    # engine side: the autoscaler changes which replicas accept requests
    def _set_replicas(self, replicas: dict) -> None:
        self._replica_schedulers = dict(replicas)
        self._num_replicas = len(self._replica_schedulers)
