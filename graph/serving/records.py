"""Real traffic in the workspace's telemetry database, in the simulator's schema, so the Analyst's SQL and the
simulator's metrics work on it unchanged.

A router session (or a load-generator run) is one row of ``runs`` (``context`` = ``serving`` or ``loadgen``, one
seed, 0) and one of ``run_seeds``, both rewritten at every flush with the figures so far; finished requests go to
``requests`` with the simulator's columns (times in seconds since the session started; ``scheduled_at`` is when
the backend took the request up, as far as the router can tell (see ``views``); ``num_restarts`` the retries after
a backend failed; ``isolated_s`` and ``slowdown`` from a calibrated service model when one was given), per-second
views to ``replica_samples``, and route / admit / complete / retry / fail / backend_down / backend_up / policy_error
events to ``scheduling_events``. Two tables are added for what the simulator has no notion of:

  served_requests   every request, finished or not: run_id, request_id, api, stream, status (ok, failed,
                    cancelled, rejected), http_status, backend (URL), prompt_source (header, tokenizer, estimate,
                    usage), error
  backend_samples   each backend every scrape: run_id, t, replica_id, url, healthy, running, waiting, kv_usage
                    (what the backend reported), scraped_blocks (kv_usage x its blocks), estimated_blocks (the
                    router's estimate the policy saw)
"""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from glia.simulator.engine import RunResult
from glia.simulator.harness.telemetry import REQUEST_COLUMNS, config_json, insert_frame, writing
from glia.simulator.measured import MeasuredExecutionModel, ServiceModel
from glia.simulator.metrics import RUN_METRICS, request_metrics, run_summary

SERVING_SCHEMA = """
CREATE TABLE IF NOT EXISTS served_requests (
    run_id VARCHAR, request_id BIGINT, api VARCHAR, stream BOOLEAN, status VARCHAR, http_status INTEGER,
    backend VARCHAR, prompt_source VARCHAR, error VARCHAR);
CREATE TABLE IF NOT EXISTS backend_samples (
    run_id VARCHAR, t DOUBLE, replica_id INTEGER, url VARCHAR, healthy BOOLEAN, running DOUBLE, waiting DOUBLE,
    kv_usage DOUBLE, scraped_blocks DOUBLE, estimated_blocks INTEGER);
"""

RAW_COLUMNS = ("request_id", "arrived_at", "num_prefill_tokens", "num_decode_tokens", "routed_at", "replica_id",
               "scheduled_at", "first_token_at", "completed_at", "num_restarts", "wasted_tokens")
SERVED_COLUMNS = ("request_id", "api", "stream", "status", "http_status", "backend", "prompt_source", "error")
BACKEND_COLUMNS = ("t", "replica_id", "url", "healthy", "running", "waiting", "kv_usage", "scraped_blocks",
                   "estimated_blocks")


class _Unmeasured:
    """Isolated times when no service model was given: unknown."""

    def isolated_time(self, prompt: int, decode: int, chunk: int) -> float:
        return math.nan


class Recorder:
    """Collects one session's requests, samples and events in memory and appends them to DuckDB at each flush."""

    def __init__(self, telemetry: str | Path | None, run_id: str, policy: str, workload: str, config: dict,
                 context: str, service: ServiceModel | None = None, chunk_size: int = 512, replicas: int = 1):
        self.path = Path(telemetry) if telemetry else None
        self.run_id, self.policy, self.workload, self.config, self.context = run_id, policy, workload, config, context
        self.model = MeasuredExecutionModel(service) if service else _Unmeasured()
        self.chunk_size, self.replicas = chunk_size, replicas
        self.started = datetime.now(UTC).replace(tzinfo=None)
        self.finished: list[dict] = []      # requests that completed (the requests table)
        self.served: list[dict] = []        # every request's outcome
        self.events: list[tuple] = []
        self.samples: list[tuple] = []
        self.backend_samples: list[tuple] = []
        self.busy_s = 0.0
        self.preemptions = 0.0
        self._written = {"finished": 0, "served": 0, "events": 0, "samples": 0, "backend_samples": 0}

    # -- collection -----------------------------------------------------------------------------------------
    def request(self, raw: dict, served: dict) -> None:
        """One request's outcome: ``raw`` has the RAW_COLUMNS (kept in ``requests`` only when it completed),
        ``served`` the SERVED_COLUMNS."""
        self.served.append(served)
        if served["status"] == "ok":
            self.finished.append(raw)

    def event(self, t: float, kind: str, request_id: int, replica_id: int, value: int = 0) -> None:
        self.events.append((t, kind, request_id, replica_id, int(value)))

    def sample(self, t: float, replica_id: int, pending: int, active: int, allocated: int, blocks: int,
               queue: int) -> None:
        self.samples.append((t, replica_id, pending, active, allocated, blocks, queue))

    def backend_sample(self, *row) -> None:
        self.backend_samples.append(row)

    # -- figures --------------------------------------------------------------------------------------------
    def metrics(self, upto: int | None = None) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        """Per-request columns (the simulator's metrics) and the session's summary, over the completed requests (the
        first ``upto`` of them)."""
        finished = self.finished[:upto]
        cols = {c: np.asarray([r[c] for r in finished], dtype=float) for c in RAW_COLUMNS}
        for c in ("request_id", "num_prefill_tokens", "num_decode_tokens", "replica_id", "num_restarts",
                  "wasted_tokens"):
            cols[c] = cols[c].astype(np.int64)
        makespan = float(np.nanmax(cols["completed_at"])) if finished else 0.0
        run = RunResult(seed=0, requests=cols, makespan_s=makespan, gpu_hours=self.replicas * makespan / 3600.0,
                        busy_s=self.busy_s, replica_seconds=self.replicas * makespan,
                        num_preemptions=int(self.preemptions), samples=self.samples, events=self.events)
        req = request_metrics(run, self.model, self.chunk_size)
        with np.errstate(all="ignore"):
            summary = run_summary(run, req) if finished else {"num_requests": 0.0}
        return req, summary

    def failures(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.served:
            if s["status"] != "ok":
                out[s["status"]] = out.get(s["status"], 0) + 1
        return out

    # -- writing --------------------------------------------------------------------------------------------
    def flush(self, wall_s: float) -> None:
        """Append what is new since the last flush; rewrite the run's summary rows. It may run in a thread while the
        router goes on appending: it writes what was there when it started."""
        if self.path is None:
            return
        upto = {"finished": len(self.finished), "served": len(self.served), "events": len(self.events),
                "samples": len(self.samples), "backend_samples": len(self.backend_samples)}
        req, summary = self.metrics(upto["finished"])
        failed = self.failures()
        err_kind = "failed_requests" if failed else None
        err_msg = (f"{sum(failed.values())} of {len(self.served)} requests did not complete: "
                   + ", ".join(f"{n} {k}" for k, n in sorted(failed.items()))) if failed else None
        run_row = {"run_id": self.run_id, "policy": os.path.basename(self.policy), "policy_hash": None,
                   "workload": self.workload, "seeds": 1, "context": self.context, "created_at": self.started,
                   "wall_s": wall_s, "error_kind": err_kind, "error_message": err_msg,
                   "config": config_json(self.config), "mean_e2e_s": _num(summary.get("mean_e2e_s")),
                   "mean_e2e_ci_low": None, "mean_e2e_ci_high": None, "p90_e2e_s": _num(summary.get("p90_e2e_s")),
                   "mean_ttft_s": _num(summary.get("mean_ttft_s")), "p90_ttft_s": _num(summary.get("p90_ttft_s")),
                   "restart_fraction": _num(summary.get("restart_fraction")),
                   "throughput_rps": _num(summary.get("throughput_rps")), "gpu_hours": _num(summary.get("gpu_hours"))}
        with writing(self.path) as con:
            con.execute(SERVING_SCHEMA)
            con.execute("BEGIN")
            cols = list(run_row)
            con.execute(f"INSERT OR REPLACE INTO runs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                        [run_row[c] for c in cols])
            con.execute("DELETE FROM run_seeds WHERE run_id = ?", [self.run_id])
            con.execute(f"INSERT INTO run_seeds VALUES ({', '.join('?' * (5 + len(RUN_METRICS)))})",
                        [self.run_id, 0, wall_s, err_kind, err_msg] + [_num(summary.get(m)) for m in RUN_METRICS])
            start = self._written["finished"]
            if upto["finished"] > start:
                frame = {c: req[c][start:] for c in REQUEST_COLUMNS}
                self._append(con, "requests", frame, seed=True)
            self._append_rows(con, "served_requests", upto, [tuple(s[c] for c in SERVED_COLUMNS)
                                                             for s in self.served], SERVED_COLUMNS, "served")
            self._append_rows(con, "scheduling_events", upto, self.events,
                              ("t", "kind", "request_id", "replica_id", "value"), "events", seed=True)
            self._append_rows(con, "replica_samples", upto, self.samples,
                              ("t", "replica_id", "num_pending", "num_active", "allocated_blocks", "num_blocks",
                               "global_queue"), "samples", seed=True)
            self._append_rows(con, "backend_samples", upto, self.backend_samples, BACKEND_COLUMNS,
                              "backend_samples")
            con.execute("COMMIT")
        self._written.update(upto)

    def _append(self, con, table: str, frame: dict, seed: bool = False) -> None:
        n = len(next(iter(frame.values())))
        head = {"run_id": np.full(n, self.run_id, dtype=object)}
        if seed:
            head["seed"] = np.zeros(n, dtype=np.int64)
        insert_frame(con, table, {**head, **frame})

    def _append_rows(self, con, table: str, upto: dict, rows: list, names: tuple[str, ...], key: str,
                     seed: bool = False) -> None:
        new = rows[self._written[key]:upto[key]]
        if not new:
            return
        frame = {}
        for i, name in enumerate(names):
            col = [r[i] for r in new]
            text = any(isinstance(v, str) for v in col)
            frame[name] = np.array(col, dtype=object) if text else np.array(
                [np.nan if v is None else v for v in col])
        self._append(con, table, frame, seed)


def _num(v):
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)
