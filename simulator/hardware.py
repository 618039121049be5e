"""Devices and models the simulator knows, from public specifications."""

from __future__ import annotations

from dataclasses import dataclass

GIB = 1024**3


@dataclass(frozen=True)
class Device:
    """One accelerator: memory, dense fp16 peak (and fp8 peak where it has FP8 tensor cores) and memory
    bandwidth."""

    name: str
    memory_bytes: int
    peak_flops: float
    bandwidth: float
    interconnect_bandwidth: float  # bytes/s per direction, for tensor-parallel all-reduce
    peak_flops_fp8: float | None = None


@dataclass(frozen=True)
class ModelSpec:
    """A decoder-only transformer, described by what the roofline model needs."""

    name: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    vocab: int
    params: float
    dtype_bytes: int = 2

    @property
    def embedding_params(self) -> float:
        """Input embedding plus the (untied) output projection."""
        return 2.0 * self.vocab * self.hidden

    @property
    def non_embedding_params(self) -> float:
        return self.params - self.embedding_params

    @property
    def weight_bytes(self) -> float:
        return self.params * self.dtype_bytes

    @property
    def kv_bytes_per_token(self) -> int:
        return 2 * self.layers * self.kv_heads * self.head_dim * self.dtype_bytes


DEVICES: dict[str, Device] = {
    d.name: d
    for d in (
        # A10: 24 GB GDDR6, 125 TFLOPS dense fp16 (tensor cores), 600 GB/s, PCIe only.
        Device("A10", 24 * GIB, 125e12, 600e9, 25e9),
        Device("A100-80GB", 80 * GIB, 312e12, 2039e9, 300e9),
        # H100 SXM: 989 TFLOPS dense fp16/bf16, 1,979 dense fp8 (Hopper's FP8 tensor cores), 3.35 TB/s.
        Device("H100-80GB", 80 * GIB, 989e12, 3350e9, 450e9, peak_flops_fp8=1979e12),
    )
}

MODELS: dict[str, ModelSpec] = {
    m.name: m
    for m in (
        ModelSpec("Llama-3-8B", 32, 4096, 32, 8, 128, 14336, 128256, 8.03e9),
        ModelSpec("Llama-3-70B", 80, 8192, 64, 8, 128, 28672, 128256, 70.55e9),
        # Llama-3.3-70B(-Instruct) keeps Llama-3-70B's architecture; served in FP8 with weight_dtype="fp8"
        ModelSpec("Llama-3.3-70B", 80, 8192, 64, 8, 128, 28672, 128256, 70.55e9),
        ModelSpec("Llama-2-7B", 32, 4096, 32, 32, 128, 11008, 32000, 6.74e9),
    )
}


# bytes per weight or KV element of each storage type the cluster settings accept (vLLM's --dtype, --quantization
# fp8 and --kv-cache-dtype fp8)
DTYPE_BYTES = {"fp16": 2, "bf16": 2, "fp8": 1}


def dtype_bytes(name: str) -> int:
    try:
        return DTYPE_BYTES[name]
    except KeyError:
        raise ValueError(f"unknown dtype {name!r}; known: {', '.join(DTYPE_BYTES)}") from None


def get_device(name: str) -> Device:
    try:
        return DEVICES[name]
    except KeyError:
        raise ValueError(f"unknown device {name!r}; known: {', '.join(DEVICES)}") from None


def get_model(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(MODELS)}") from None
