"""Calibration of the roofline against vidur's profiles of Llama-3-8B's non-attention operators.

``errors(device)`` compares the model's linear-layer time with the measured sum of the profiled operators at every
profiled (tokens, tensor-parallel degree) point; ``fit(device)`` searches the efficiencies that minimise the squared
relative error (tensor parallel 1 weighted most), which is how ``execution.EFFICIENCY`` was obtained.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glia.simulator.execution import EFFICIENCY, Efficiency, ExecutionModel

PROFILES = {"A10": "a10_llama3_8b_ops.csv", "A100-80GB": "a100_llama3_8b_ops.csv"}
PROFILE_DIR = Path(__file__).parent / "data" / "profiling"
LAYER_OPS = ("input_layernorm", "attn_pre_proj", "attn_rope", "attn_post_proj", "post_attention_layernorm",
             "mlp_up_proj", "mlp_act", "mlp_down_proj", "add")


@dataclass(frozen=True)
class Point:
    tokens: int
    tensor_parallel: int
    measured_s: float
    model_s: float

    @property
    def rel_error(self) -> float:
        return self.model_s / self.measured_s - 1.0


def profile(device: str) -> list[tuple[int, int, float]]:
    """(tokens, tensor-parallel degree, seconds) of one forward pass of all layers' non-attention operators."""
    if device not in PROFILES:
        raise ValueError(f"no profile for {device}; profiled: {', '.join(PROFILES)}")
    out = []
    with open(PROFILE_DIR / PROFILES[device], newline="") as f:
        for row in csv.DictReader(f):
            layers = sum(float(row[f"{op}_ms"]) for op in LAYER_OPS) * 32 + float(row["emb_ms"])
            out.append((int(row["num_tokens"]), int(row["num_tensor_parallel_workers"]), layers / 1e3))
    return out


def errors(device: str, efficiency: Efficiency | None = None) -> list[Point]:
    """The model against every profiled point (the output projection is not in the profile, so it is left out)."""
    models: dict[int, ExecutionModel] = {}
    points = []
    for tokens, tp, measured in profile(device):
        m = models.setdefault(tp, ExecutionModel(device, "Llama-3-8B", tp, efficiency))
        points.append(Point(tokens, tp, measured, m.linear_time(tokens, 0, with_head=False)))
    return points


def fit(device: str) -> Efficiency:
    """Grid-search compute and weight efficiencies and the fixed linear cost; the KV efficiency is kept."""
    base = EFFICIENCY[device]
    m = ExecutionModel(device, "Llama-3-8B", 1, base)
    pts = np.array(profile(device), dtype=float)
    tokens, tp, measured = pts[:, 0], pts[:, 1], pts[:, 2]
    flops = 2.0 * m.model.non_embedding_params * tokens / tp
    weight_bytes = m.model.non_embedding_params * m.model.dtype_bytes / tp
    tp1 = tp == 1
    best, best_score = base, float("inf")
    for ec in np.arange(0.40, 0.80, 0.01):
        compute = flops / (ec * m.device.peak_flops)
        for ew in np.arange(0.60, 1.00, 0.01):
            smooth = np.hypot(compute, weight_bytes / (ew * m.device.bandwidth))
            for c in np.arange(0.0, 0.008, 0.0005):
                err = (smooth + c) / measured - 1.0
                score = np.mean(err[tp1] ** 2) + 0.3 * np.mean(err ** 2)
                if score < best_score:
                    best, best_score = Efficiency(round(float(ec), 3), round(float(ew), 3), base.kv, float(c)), score
    return best
