"""Named benchmarks: a cluster and a workload, ready to run."""

from __future__ import annotations

from .config import ClusterConfig, SimulationConfig
from .workloads import WorkloadSpec

PRESETS: dict[str, tuple[str, SimulationConfig]] = {
    "paper-routing": (
        "The Glia paper's routing benchmark: 4 x A10, Llama-3-8B, vidur's 2,240 KV blocks per replica, ShareGPT "
        "lengths, log-normal (sigma 2) arrivals at 7.5 QPS for 1,000 s",
        SimulationConfig(ClusterConfig(device="A10", model="Llama-3-8B", num_replicas=4, num_blocks=2240),
                         WorkloadSpec("sharegpt", {"qps": 7.5, "duration_s": 1000.0})),
    ),
    "paper-routing-short": (
        "paper-routing over 300 s of arrivals: the same regime, a third of the cost",
        SimulationConfig(ClusterConfig(device="A10", model="Llama-3-8B", num_replicas=4, num_blocks=2240),
                         WorkloadSpec("sharegpt", {"qps": 7.5, "duration_s": 300.0})),
    ),
    "sharegpt-recipe": (
        "paper-routing's cluster with lengths drawn from the raw ShareGPT table and the paper's recipe applied "
        "(5 % / 5 % 10x inflation, 4,096 cap, 42-token system prompt), at 6 QPS",
        SimulationConfig(ClusterConfig(device="A10", model="Llama-3-8B", num_replicas=4, num_blocks=2240),
                         WorkloadSpec("sharegpt", {"qps": 6.0, "duration_s": 1000.0, "lengths": "sharegpt-val"})),
    ),
    "poisson-a100": (
        "4 x A100-80GB, Llama-3-8B, memory-derived KV cache, Poisson arrivals at 30 QPS for 600 s",
        SimulationConfig(ClusterConfig(device="A100-80GB", model="Llama-3-8B", num_replicas=4),
                         WorkloadSpec("poisson", {"qps": 30.0, "duration_s": 600.0})),
    ),
    "splitwise-conv": (
        "Replay of Azure's 2023 conversation trace (first 20 minutes) on 4 x A100-80GB, Llama-2-7B",
        SimulationConfig(ClusterConfig(device="A100-80GB", model="Llama-2-7B", num_replicas=4),
                         WorkloadSpec("replay", {"path": "splitwise_conv.csv", "duration_s": 1200.0})),
    ),
    "llama70b-h100": (
        "2 replicas of Llama-3-70B, each tensor parallel on 4 x H100-80GB, Poisson arrivals at 8 QPS for 600 s",
        SimulationConfig(ClusterConfig(device="H100-80GB", model="Llama-3-70B", tensor_parallel=4, num_replicas=2),
                         WorkloadSpec("poisson", {"qps": 8.0, "duration_s": 600.0})),
    ),
    "closed-loop": (
        "48 users in a closed loop (5 s mean think time) on paper-routing's cluster for 600 s",
        SimulationConfig(ClusterConfig(device="A10", model="Llama-3-8B", num_replicas=4, num_blocks=2240),
                         WorkloadSpec("closed_loop", {"users": 48, "think_time_s": 5.0, "duration_s": 600.0})),
    ),
    "diurnal-autoscale": (
        "A sinusoidal load (2-10 QPS, 20-minute period) over an hour on A100-80GB replicas of Llama-3-8B, with the "
        "throughput-threshold autoscaler (1-8 replicas, 90 s cold starts)",
        SimulationConfig(ClusterConfig(device="A100-80GB", model="Llama-3-8B", num_replicas=2),
                         WorkloadSpec("sinusoidal", {"qps": 6.0, "amplitude": 0.67, "period_s": 1200.0,
                                                     "duration_s": 3600.0}),
                         autoscaler={"kind": "threshold", "high_tokens_per_s": 1500.0, "low_tokens_per_s": 500.0,
                                     "min_replicas": 1, "max_replicas": 8}),
    ),
}


def get_preset(name: str) -> SimulationConfig:
    try:
        return PRESETS[name][1]
    except KeyError:
        raise ValueError(f"unknown workload preset {name!r}; known: {', '.join(PRESETS)}") from None
