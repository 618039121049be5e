"""Simulation settings: the cluster, the workload and the run."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .batch_policies import BATCH_POLICIES
from .execution import ExecutionModel
from .replica import ReplicaConfig
from .workloads import WorkloadSpec


@dataclass(frozen=True)
class ClusterConfig:
    """N identical replicas of one model on one device type, tensor parallel within a replica."""

    device: str = "A10"
    model: str = "Llama-3-8B"
    tensor_parallel: int = 1
    num_replicas: int = 4
    num_blocks: int | None = None  # None: derived from memory as vLLM does
    block_size: int = 16
    chunk_size: int = 8192
    batch_size_cap: int = 128
    watermark_fraction: float = 0.01
    batch_policy: str = "fcfs"

    def __post_init__(self):
        if self.num_replicas < 1:
            raise ValueError(f"num_replicas must be >= 1, got {self.num_replicas}")
        for name in ("block_size", "chunk_size", "batch_size_cap"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.num_blocks is not None and self.num_blocks < 1:
            raise ValueError(f"num_blocks must be >= 1, got {self.num_blocks}")
        if not 0.0 <= self.watermark_fraction < 1.0:
            raise ValueError(f"watermark_fraction must be within [0, 1), got {self.watermark_fraction}")
        if self.batch_policy not in BATCH_POLICIES:
            raise ValueError(f"unknown batch policy {self.batch_policy!r}; known: {', '.join(BATCH_POLICIES)}")

    def execution_model(self) -> ExecutionModel:
        return ExecutionModel(self.device, self.model, self.tensor_parallel)

    def replica_config(self, model: ExecutionModel | None = None) -> ReplicaConfig:
        blocks = self.num_blocks
        if blocks is None:
            blocks = (model or self.execution_model()).num_kv_blocks(self.block_size, self.chunk_size)
        return ReplicaConfig(blocks, self.block_size, self.chunk_size, self.batch_size_cap, self.watermark_fraction)


@dataclass(frozen=True)
class SimulationConfig:
    """One benchmark: a cluster, a workload, optional autoscaling, and what to record."""

    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    workload: WorkloadSpec = field(default_factory=lambda: WorkloadSpec("sharegpt"))
    autoscaler: dict | None = None
    sample_interval_s: float = 1.0
    record_events: bool = True

    def to_dict(self) -> dict:
        return {"cluster": dataclasses.asdict(self.cluster), "workload": self.workload.to_dict(),
                "autoscaler": self.autoscaler, "sample_interval_s": self.sample_interval_s}

    @classmethod
    def from_dict(cls, data: dict) -> SimulationConfig:
        data = dict(data)
        unknown = set(data) - {"cluster", "workload", "autoscaler", "sample_interval_s", "record_events"}
        if unknown:
            raise ValueError(f"unknown simulation setting(s): {', '.join(sorted(unknown))}")
        try:
            cluster = ClusterConfig(**data.get("cluster", {}))
        except TypeError as exc:
            raise ValueError(f"bad cluster settings: {exc}") from None
        wl = dict(data.get("workload", {"kind": "sharegpt"}))
        kind = wl.pop("kind", "sharegpt")
        return cls(cluster, WorkloadSpec(kind, wl), data.get("autoscaler"),
                   float(data.get("sample_interval_s", 1.0)), bool(data.get("record_events", True)))

    def replace(self, **changes) -> SimulationConfig:
        return dataclasses.replace(self, **changes)
