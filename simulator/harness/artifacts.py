"""Per-run artifact files, as the paper's runs produce them: ``config.json``, ``gs_log.csv`` (the global
scheduler's routing decisions), ``reqs_log.csv`` (the request trace) and ``request_metrics.csv``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from glia.simulator.harness.telemetry import REQUEST_COLUMNS


def _write_csv(path: Path, header: list[str], rows) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def write_seed_artifacts(directory: Path, config: dict, outcome) -> None:
    """Write one seed's files into ``directory`` (created)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps({**config, "seed": outcome.seed}, indent=2, sort_keys=True))
    if outcome.error:
        (directory / "error.json").write_text(json.dumps(outcome.error, indent=2))
    req = outcome.requests
    if req is None:
        return
    _write_csv(directory / "gs_log.csv", ["time", "request_id", "replica_id", "num_prefill_tokens"],
               ((t, rid, rep, val) for t, kind, rid, rep, val in outcome.events if kind == "route"))
    _write_csv(directory / "reqs_log.csv", ["request_id", "arrived_at", "num_prefill_tokens", "num_decode_tokens"],
               zip(*(req[c].tolist() for c in ("request_id", "arrived_at", "num_prefill_tokens",
                                               "num_decode_tokens")), strict=True))
    cols = [c for c in REQUEST_COLUMNS]
    _write_csv(directory / "request_metrics.csv", cols,
               zip(*(np.asarray(req[c]).tolist() for c in cols), strict=True))
