"""Simulation settings: the cluster, the workload and the run. Plain records (no numpy): the CLI reads the presets'
names and descriptions without loading the simulator."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from glia.simulator.autoscaling import AutoscalingConfig
from glia.simulator.execution import ExecutionModel
from glia.simulator.hardware import dtype_bytes
from glia.simulator.policy.builtin.batch_policies import BATCH_POLICIES
from glia.simulator.replica import ReplicaConfig

if TYPE_CHECKING:
    from glia.simulator.workloads import ClosedLoop, Trace


@dataclass(frozen=True)
class WorkloadSpec:
    """A generator name and its parameters (``workloads.GENERATORS``); ``generate(seed)`` gives the requests of one
    seed."""

    kind: str
    params: dict = field(default_factory=dict)

    def generate(self, seed: int) -> Trace | ClosedLoop:
        """The requests of one seed."""
        from glia.simulator.workloads import GENERATORS  # numpy, loaded when requests are made
        try:
            gen = GENERATORS[self.kind]
        except KeyError:
            raise ValueError(f"unknown workload kind {self.kind!r}; known: {', '.join(GENERATORS)}") from None
        try:
            return gen(seed, **self.params)
        except TypeError as exc:
            raise ValueError(f"bad parameters for workload {self.kind!r}: {exc}") from None

    def to_dict(self) -> dict:
        return {"kind": self.kind, **self.params}


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
    batch_policy: str = "fcfs"     # a built-in batch policy or PATH.py[:Class]
    weight_dtype: str = "fp16"     # fp16 / bf16 / fp8 (vLLM's --quantization fp8)
    kv_cache_dtype: str = "fp16"   # fp16 / bf16 / fp8 (vLLM's --kv-cache-dtype fp8)

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
        if self.batch_policy not in BATCH_POLICIES and not _is_file_spec(self.batch_policy):
            raise ValueError(f"unknown batch policy {self.batch_policy!r}; known: {', '.join(BATCH_POLICIES)}, or "
                             "a PATH.py[:Class]")
        dtype_bytes(self.weight_dtype)
        dtype_bytes(self.kv_cache_dtype)

    def replace(self, **changes) -> ClusterConfig:
        return dataclasses.replace(self, **changes)

    def execution_model(self) -> ExecutionModel:
        return ExecutionModel(self.device, self.model, self.tensor_parallel, weight_dtype=self.weight_dtype,
                              kv_cache_dtype=self.kv_cache_dtype)

    def replica_config(self, model: ExecutionModel | None = None) -> ReplicaConfig:
        blocks = self.num_blocks
        if blocks is None:
            blocks = (model or self.execution_model()).num_kv_blocks(self.block_size, self.chunk_size)
        return ReplicaConfig(blocks, self.block_size, self.chunk_size, self.batch_size_cap, self.watermark_fraction)


def _is_file_spec(spec: str) -> bool:
    return spec.endswith(".py") or ".py:" in spec


@dataclass(frozen=True)
class SimulationConfig:
    """One benchmark: a cluster, a workload, optional autoscaling (its platform settings and policy; a settings
    dict is accepted), and what to record."""

    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    workload: WorkloadSpec = field(default_factory=lambda: WorkloadSpec("sharegpt"))
    autoscaler: AutoscalingConfig | None = None
    sample_interval_s: float = 1.0
    record_events: bool = True

    def __post_init__(self):
        if isinstance(self.autoscaler, dict):
            object.__setattr__(self, "autoscaler", AutoscalingConfig.from_dict(self.autoscaler) if self.autoscaler
                               else None)

    def to_dict(self) -> dict:
        return {"cluster": dataclasses.asdict(self.cluster), "workload": self.workload.to_dict(),
                "autoscaler": self.autoscaler.to_dict() if self.autoscaler else None,
                "sample_interval_s": self.sample_interval_s}

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
        return cls(cluster, WorkloadSpec(kind, wl), data.get("autoscaler") or None,
                   float(data.get("sample_interval_s", 1.0)), bool(data.get("record_events", True)))

    def replace(self, **changes) -> SimulationConfig:
        return dataclasses.replace(self, **changes)

    def with_stack(self, batch: str | None = None, autoscaler: str | None = None) -> SimulationConfig:
        """This benchmark with another batch policy and/or autoscaling policy (``"none"``: a fixed cluster)."""
        out = self
        if batch is not None:
            out = out.replace(cluster=dataclasses.replace(out.cluster, batch_policy=batch))
        if autoscaler == "none":
            out = out.replace(autoscaler=None)
        elif autoscaler is not None:
            if out.autoscaler is None:
                raise ValueError("this benchmark has no autoscaling platform (a fixed cluster): an autoscaling "
                                 "policy needs a workload preset with autoscaling settings")
            params = out.autoscaler.params if autoscaler == out.autoscaler.policy else {}
            out = out.replace(autoscaler=dataclasses.replace(out.autoscaler, policy=autoscaler, params=params))
        return out
