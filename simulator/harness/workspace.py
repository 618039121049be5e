"""A workspace's layout: its default name, the shared telemetry database and checkpoints, one directory per run.
Standard library only: every command takes its defaults from here without loading anything else."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_WORKSPACE = "glia-workspace"


@dataclass(frozen=True)
class Paths:
    """A workspace: the shared telemetry database and checkpoints, and one directory per run."""

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
