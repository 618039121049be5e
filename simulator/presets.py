"""Named benchmarks: a cluster and a workload, ready to run."""

from __future__ import annotations

from glia.simulator.autoscaling import AutoscalingConfig
from glia.simulator.config import ClusterConfig, SimulationConfig, WorkloadSpec

PAPER_CLUSTER = ClusterConfig(device="A10", model="Llama-3-8B", num_replicas=4, num_blocks=2240)
# Llama-3.3-70B in FP8 (weights and KV cache) on 8 H100s: 4 replicas, each tensor parallel on 2 GPUs
H100_70B_FP8 = ClusterConfig(device="H100-80GB", model="Llama-3.3-70B", tensor_parallel=2, num_replicas=4,
                             weight_dtype="fp8", kv_cache_dtype="fp8")

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
                         autoscaler=AutoscalingConfig("threshold", {"high_tokens_per_s": 1500.0,
                                                                    "low_tokens_per_s": 500.0},
                                                      min_replicas=1, max_replicas=8)),
    ),
    "autoscale-sinusoid": (
        "The paper's autoscaling benchmark: ShareGPT requests at a sinusoidal 7.5 -> 22.5 QPS (one hour-long "
        "cycle from the trough) on paper-routing's A10 replicas, 6 at the start, 2 to 32 with 90 s cold starts; "
        "the standard stack (fcfs, llq, a throughput-threshold autoscaler tuned to hold p95 slowdown under 5)",
        SimulationConfig(PAPER_CLUSTER.replace(num_replicas=6),
                         WorkloadSpec("sinusoidal", {"qps": 15.0, "amplitude": 0.5, "period_s": 3600.0,
                                                     "duration_s": 3600.0, "phase": 0.75}),
                         autoscaler=AutoscalingConfig("threshold", {"high_tokens_per_s": 700.0,
                                                                    "low_tokens_per_s": 350.0, "cooldown_s": 60.0},
                                                      interval_s=30.0, cold_start_s=90.0, min_replicas=2,
                                                      max_replicas=32)),
    ),
    "slo-prefill": (
        "A prefill-heavy closed loop: 300 users with no think time (300 requests in flight) sending Azure's "
        "code-completion requests (prompts ~73x the outputs) to Llama-3.3-70B in FP8 on 8 H100s (4 replicas, "
        "tensor parallel 2) for 600 s",
        SimulationConfig(H100_70B_FP8, WorkloadSpec("closed_loop", {"users": 300, "think_time_s": 0.0,
                                                                   "duration_s": 600.0,
                                                                   "lengths": "splitwise-code"})),
    ),
    "slo-prefill-open": (
        "slo-prefill's cluster and requests as open-loop Poisson arrivals at 20 QPS for 600 s (a load to sweep)",
        SimulationConfig(H100_70B_FP8, WorkloadSpec("poisson", {"qps": 20.0, "duration_s": 600.0,
                                                               "lengths": "splitwise-code"})),
    ),
    "abundant-kv": (
        "Where memory-based admission has nothing to do: 4 x A100-80GB serving Llama-3-8B with the KV cache vLLM "
        "derives from memory (28,853 blocks per replica, 13x the A10's) and short ShareGPT requests at 40 QPS "
        "(log-normal gaps) for 300 s: the batch-size cap binds long before memory",
        SimulationConfig(ClusterConfig(device="A100-80GB", model="Llama-3-8B", num_replicas=4),
                         WorkloadSpec("sharegpt", {"qps": 40.0, "duration_s": 300.0})),
    ),
}


def get_preset(name: str) -> SimulationConfig:
    try:
        return PRESETS[name][1]
    except KeyError:
        raise ValueError(f"unknown workload preset {name!r}; known: {', '.join(PRESETS)}") from None
