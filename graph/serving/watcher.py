"""The router's backend watcher: health checks every ``probe_interval_s`` (a backend that fails is taken out of
the policy's replicas at once, ids stable, and put back when a check passes), the stall check, and the samples the
recorder keeps. A part of ``Router`` (``router.py``)."""

from __future__ import annotations

import asyncio
import logging
import math
import time

from glia.graph.serving.backends import Backend, probe
from glia.graph.serving.jobs import nan

log = logging.getLogger("glia.router")


class BackendWatcher:
    """The backends' side of the router (see the module docstring)."""

    def _backend_failed(self, backend: Backend, why: str) -> None:
        if not backend.healthy:
            return
        backend.healthy, backend.last_error, backend.changed_at = False, why, time.monotonic()
        log.warning("backend %d (%s) taken out: %s", backend.index, backend.url, why)
        self._event(self.now(), "backend_down", -1, backend.index)
        self.policy._set_replicas(self._serving())
        for job in list(self.jobs.values()):
            if job.view._r_replica_id == backend.index and job.exchange is not None:
                job.exchange.cancel()

    def _backend_back(self, backend: Backend) -> None:
        backend.healthy, backend.last_error, backend.changed_at = True, "", time.monotonic()
        log.warning("backend %d (%s) is back", backend.index, backend.url)
        self._event(self.now(), "backend_up", -1, backend.index)
        self.policy._set_replicas(self._serving())
        self.schedule()

    async def _watch(self) -> None:
        """Every ``probe_interval_s``: health checks (a scrape for backends with metrics), samples, and the stall
        check (requests held while no backend has work, for longer than ``stall_grace_s``)."""
        while True:
            results = await asyncio.gather(*(probe(self._session, b) for b in self.backends))
            for b, ok in zip(self.backends, results, strict=True):
                if b.healthy and not ok:
                    self._backend_failed(b, b.last_error)
                elif ok and not b.healthy:
                    self._backend_back(b)
            if self._stalled_since is not None and self.now() - self._stalled_since >= self.stall_grace_s:
                serving = self._serving()
                if serving and self.waiting:
                    self._fallback(serving, "stalled: the policy holds requests while no backend has work, so no "
                                   "completion will call it again (the simulator reports this as never_routed)")
                self._stalled_since = None
            self._sample(self.now())
            await asyncio.sleep(self.probe_interval_s)

    def _sample(self, t: float) -> None:
        if not self.recorder:
            return
        queue = len(self.waiting)
        for b in self.backends:
            v, s = self.views[b.index], b.last_scrape
            est = v.num_allocated_blocks
            self.recorder.sample(t, b.index, v.num_pending_requests, v.num_active_requests, est, v.num_blocks, queue)
            scraped = s.kv_usage * b.config.num_blocks if s.kv_usage is not None else math.nan
            self.recorder.backend_sample(t, b.index, b.url, b.healthy, nan(s.running), nan(s.waiting),
                                         nan(s.kv_usage), scraped, est)
