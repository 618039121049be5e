"""Iteration-time model: a roofline per engine iteration, calibrated against vidur's profiles.

For the sequences of one iteration, each with ``q`` new tokens and ``p`` tokens already in the KV cache:

* linear layers: ``2 * non_embedding_params`` FLOPs per new token plus ``2 * vocab * hidden`` per sequence that emits a
  token (the output projection); all weights are streamed once per iteration. Compute time and weight-streaming time
  are combined with a smooth maximum ``sqrt(a**2 + b**2)`` (it fits the measured knee far better than ``max``), plus a
  fixed cost of the linear operators (kernel launches, norms, activations);
* attention: ``4 * layers * heads * head_dim * q * (p + (q + 1) / 2)`` FLOPs and ``kv_bytes_per_token * (p + q)``
  bytes read, summed over the sequences; time is the larger of the compute and memory times;
* tensor parallelism divides FLOPs and bytes by the degree and adds two ring all-reduces per layer;
* FP8 weights (``weight_dtype="fp8"``) halve the bytes streamed and, on a device with FP8 tensor cores (the H100),
  run the linear layers at the FP8 peak; an FP8 KV cache (``kv_cache_dtype="fp8"``) halves the KV bytes stored and
  read, attention itself staying in 16-bit;
* a fixed overhead per iteration (about 1.1 ms for a 32-layer model) and a few microseconds per sequence.

The compute and weight efficiencies and the fixed linear cost in ``EFFICIENCY`` were fitted (``calibration.fit``)
to the non-attention operator times that vidur profiled for Llama-3-8B on the A10 and the A100;
``calibration.errors`` reports the error at every profiled point. No attention profile is available: the KV-read
efficiency is 0.55 (published decode-attention measurements) except on the A10, where 0.75 makes a 32-sequence
decode iteration over 1K-token contexts take 43 ms (the expected ~45 ms with the fitted linear part) and puts
least-loaded-queue routing on the paper's benchmark in the paper's regime (mean end-to-end ~40 s, ~20 % of requests
restarted). The H100 has no public profile here and reuses the A100's efficiencies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from glia.simulator.hardware import Device, ModelSpec, dtype_bytes, get_device, get_model


@dataclass(frozen=True)
class Efficiency:
    """Achieved fraction of peak, per resource, and the fixed cost of the linear operators."""

    compute: float
    weights: float
    kv: float
    linear_overhead_s: float


EFFICIENCY: dict[str, Efficiency] = {
    "A10": Efficiency(compute=0.47, weights=0.88, kv=0.75, linear_overhead_s=3.5e-3),
    "A100-80GB": Efficiency(compute=0.65, weights=0.84, kv=0.55, linear_overhead_s=2.0e-3),
    "H100-80GB": Efficiency(compute=0.65, weights=0.84, kv=0.55, linear_overhead_s=2.0e-3),
}

ITERATION_OVERHEAD_PER_LAYER_S = 1.1e-3 / 32
PER_SEQUENCE_S = 5e-6
ALLREDUCE_LATENCY_S = 8e-6
GPU_MEMORY_UTILIZATION = 0.9  # vLLM's default share of device memory it may use


class ExecutionModel:
    """Predicts the wall time of one engine iteration of one replica."""

    def __init__(self, device: str | Device, model: str | ModelSpec, tensor_parallel: int = 1,
                 efficiency: Efficiency | None = None, weight_dtype: str = "fp16", kv_cache_dtype: str = "fp16"):
        self.device = get_device(device) if isinstance(device, str) else device
        self.model = get_model(model) if isinstance(model, str) else model
        if tensor_parallel < 1:
            raise ValueError(f"tensor_parallel must be >= 1, got {tensor_parallel}")
        self.tp = tensor_parallel
        self.eff = efficiency or EFFICIENCY[self.device.name]
        m, d, tp = self.model, self.device, self.tp
        wb, kb = dtype_bytes(weight_dtype), dtype_bytes(kv_cache_dtype)
        self.weight_bytes = m.params * wb
        if self.weight_bytes / tp >= d.memory_bytes * GPU_MEMORY_UTILIZATION:
            raise ValueError(
                f"{m.name} needs {self.weight_bytes / 1e9:.1f} GB of weights: it does not fit on "
                f"{tp} x {d.name} ({d.memory_bytes / 1e9:.1f} GB each); raise tensor_parallel")
        # FP8 weights on a device with FP8 tensor cores run the linear layers in FP8 (W8A8, twice the fp16 peak);
        # elsewhere they are dequantised (weight-only), so only the bytes streamed shrink
        fp8_compute = wb == 1 and d.peak_flops_fp8 is not None
        self._flops_per_token = 2.0 * m.non_embedding_params / tp
        self._head_flops_per_seq = 2.0 * m.vocab * m.hidden / tp
        self._body_bytes = m.non_embedding_params * wb / tp
        self._head_bytes = m.vocab * m.hidden * wb / tp
        self._compute_rate = self.eff.compute * (d.peak_flops_fp8 if fp8_compute else d.peak_flops)
        self._weight_rate = self.eff.weights * d.bandwidth
        # attention runs in 16-bit whatever the KV cache stores (an FP8 cache is dequantised as it is read)
        self._attn_flops_unit = 4.0 * m.layers * m.heads * m.head_dim / tp
        self._attn_compute_rate = self.eff.compute * d.peak_flops
        self._kv_bytes = 2 * m.layers * m.kv_heads * m.head_dim * kb / tp
        self._kv_rate = self.eff.kv * d.bandwidth
        self.iteration_overhead_s = ITERATION_OVERHEAD_PER_LAYER_S * m.layers
        if tp > 1:
            ring = 2.0 * (tp - 1) / tp
            self._comm_per_token = 2 * m.layers * ring * m.hidden * m.dtype_bytes / d.interconnect_bandwidth
            self._comm_fixed = 2 * m.layers * ALLREDUCE_LATENCY_S
        else:
            self._comm_per_token = self._comm_fixed = 0.0
        # decode attention per processed token: one KV token read and 4*L*H*d FLOPs
        self._decode_attn_per_token = max(self._attn_flops_unit / self._attn_compute_rate,
                                          self._kv_bytes / self._kv_rate)

    def linear_time(self, tokens: int, emitting: int, with_head: bool = True) -> float:
        """Time of the non-attention operators for ``tokens`` new tokens, ``emitting`` sequences sampling."""
        flops = self._flops_per_token * tokens
        weight_bytes = self._body_bytes
        if with_head:
            flops += self._head_flops_per_seq * emitting
            weight_bytes += self._head_bytes
        compute = flops / self._compute_rate
        stream = weight_bytes / self._weight_rate
        return math.sqrt(compute * compute + stream * stream) + self.eff.linear_overhead_s

    def attention_time(self, attn_units: float, kv_tokens: float) -> float:
        """``attn_units`` = sum of q*(p+(q+1)/2); ``kv_tokens`` = sum of p+q over the batch."""
        return max(self._attn_flops_unit * attn_units / self._attn_compute_rate,
                   self._kv_bytes * kv_tokens / self._kv_rate)

    def iteration_time(self, tokens: int, emitting: int, sequences: int, attn_units: float, kv_tokens: float) -> float:
        """Wall time of one iteration with the given batch composition."""
        if sequences == 0:
            return 0.0
        return (self.iteration_overhead_s + PER_SEQUENCE_S * sequences + self.linear_time(tokens, emitting)
                + self.attention_time(attn_units, kv_tokens) + self._comm_fixed + self._comm_per_token * tokens)

    def decode_time_coefficients(self, batch: int) -> tuple[float, float]:
        """(base, per_token) so that a decode-only iteration of ``batch`` sequences holding ``n`` processed tokens
        in all takes ``base + per_token * n``."""
        base = (self.iteration_overhead_s + PER_SEQUENCE_S * batch + self.linear_time(batch, batch)
                + self._comm_fixed + self._comm_per_token * batch)
        return base, self._decode_attn_per_token

    def isolated_time(self, prompt: int, decode: int, chunk: int) -> float:
        """Time to serve one request alone on an idle replica (the denominator of slowdown)."""
        t, done = 0.0, 0
        while done < prompt:
            q = min(chunk, prompt - done)
            t += self.iteration_time(q, 1 if done + q == prompt else 0, 1, q * (done + (q + 1) / 2), done + q)
            done += q
        steps = decode - 1
        if steps > 0:  # decode iteration j processes prompt + 1 + j tokens
            base, per = self.decode_time_coefficients(1)
            n0 = prompt + 1
            t += steps * base + per * (steps * n0 + steps * (steps - 1) / 2)
        return t

    def num_kv_blocks(self, block_size: int, max_batch_tokens: int) -> int:
        """KV blocks per replica, derived as vLLM does: the usable share of memory, less weights and peak
        activations, divided by the bytes of one block (per GPU under tensor parallelism)."""
        m, d = self.model, self.device
        activation = max_batch_tokens * (4 * m.hidden + 2 * m.ffn / self.tp) * m.dtype_bytes
        free = d.memory_bytes * GPU_MEMORY_UTILIZATION - self.weight_bytes / self.tp - activation
        blocks = int(free // (block_size * self._kv_bytes))
        if blocks <= 0:
            raise ValueError(f"no memory left for the KV cache of {m.name} on {self.tp} x {d.name}")
        return blocks
