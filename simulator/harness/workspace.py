"""A workspace's layout, the one every command takes its paths from: its default name, the shared telemetry
database and checkpoints, one directory per design run, one per ``glia simulate`` run (apart from the design runs),
the cached endpoint profiles, the sim-to-real outputs. Standard library only: every command takes its defaults from
here without loading anything else."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_WORKSPACE = "glia-workspace"


@dataclass(frozen=True)
class Paths:
    """A workspace: the shared telemetry database and checkpoints, and a directory per run of each kind."""

    workspace: Path

    @property
    def db(self) -> Path:
        return self.workspace / "telemetry.duckdb"

    @property
    def checkpoints(self) -> Path:
        return self.workspace / "checkpoints.sqlite"

    @property
    def runs(self) -> Path:
        return self.workspace / "runs"

    @property
    def simulations(self) -> Path:
        """``glia simulate``'s artifacts, one directory per run (``RUN_ID/seed_K/``), apart from the design runs."""
        return self.workspace / "simulations"

    @property
    def endpoints(self) -> Path:
        """The endpoints' probed profiles, by (base URL, model)."""
        return self.workspace / "endpoints.json"

    @property
    def sim_to_real(self) -> Path:
        return self.workspace / "sim-to-real"
