"""Routers for a time-to-first-token objective that the heuristic researcher writes: the load signal a replica is
chosen by (requests, or the prefill work queued ahead of a new request), rendered as readable policy code, and the
rules that walk the space."""

from __future__ import annotations

from dataclasses import dataclass

from glia.nodes.heuristic.rules import KeyedDesign, anchor_and_best, compose, flagged_topics, header
from glia.state import Finding, GliaState, LedgerEntry

SIGNALS = {"count": "least in-flight requests", "pending": "fewest requests waiting for admission",
           "prefill": "least prefill work queued (prompt tokens not yet processed)"}


@dataclass(frozen=True)
class SloRouterDesign(KeyedDesign):
    """signal: ``count`` (pending + active requests), ``pending`` (pending requests) or ``prefill`` (prompt tokens
    still to process on the replica, pending and in prefill, plus ``per_request`` tokens for every request in
    flight, a stand-in for the decode work); ``long_prompt``: prompts of at least this many tokens go to
    ``long_replicas`` replicas of their own (0: no split)."""

    signal: str = "count"
    per_request: int = 0
    long_prompt: int = 0
    long_replicas: int = 1

    def describe(self) -> str:
        out = SIGNALS[self.signal]
        if self.signal == "prefill" and self.per_request:
            out += f", plus {self.per_request} tokens per request in flight"
        if self.long_prompt:
            out += f"; prompts of {self.long_prompt}+ tokens kept to {self.long_replicas} replica(s) of their own"
        return out

    def code(self) -> str:
        """The policy file."""
        lines = header("Router", self.describe(), self.key()) + [
                 "from glia.simulator import BaseGlobalScheduler", "", "",
                 "class Router(BaseGlobalScheduler):",
                 f"    PER_REQUEST = {self.per_request}",
                 f"    LONG_PROMPT = {self.long_prompt}",
                 f"    LONG_REPLICAS = {self.long_replicas}", "",
                 "    def load(self, rs):"]
        if self.signal == "count":
            lines.append("        return rs.num_pending_requests + rs.num_active_requests")
        elif self.signal == "pending":
            lines.append("        return rs.num_pending_requests")
        else:
            lines += ["        work = sum(r.num_prefill_tokens for r in rs.pending_queue)",
                      "        for r in rs.active_queue:",
                      "            if not r.is_prefill_complete:",
                      "                work += r.num_prefill_tokens - r.num_processed_tokens",
                      "        return work + self.PER_REQUEST * (rs.num_pending_requests + rs.num_active_requests)"]
        step = "1" if self.signal != "prefill" else "request.num_prefill_tokens + self.PER_REQUEST"
        lines += ["",
                  "    def schedule(self):",
                  "        self.sort_requests()",
                  "        load = {rid: self.load(rs) for rid, rs in self._replica_schedulers.items()}",
                  "        ids = sorted(load)",
                  "        split = self.LONG_PROMPT and len(ids) > self.LONG_REPLICAS",
                  "        long_ids, short_ids = ids[-self.LONG_REPLICAS:], ids[:-self.LONG_REPLICAS]",
                  "        mapping = []",
                  "        while self._request_queue:",
                  "            request = self._request_queue.pop(0)",
                  "            pool = ids",
                  "            if split:",
                  "                pool = long_ids if request.num_prefill_tokens >= self.LONG_PROMPT else short_ids",
                  "            rid = min(pool, key=load.__getitem__)",
                  f"            load[rid] += {step}",
                  "            mapping.append((rid, request))",
                  "        return mapping", ""]
        return "\n".join(lines)


BASELINE = SloRouterDesign()
HYPOTHESES = {
    "ttft_tail": ("H-prefill", "a request's first token waits for the prefill work queued ahead of it on its "
                               "replica, which request counts do not measure; routing to the replica with the "
                               "least queued prefill work cuts the TTFT tail",
                  lambda a: a.with_(signal="prefill")),
    "ttft_imbalance": ("H-pending", "replicas differ in TTFT: counting only the requests still waiting for "
                                    "admission follows the prefill queue more closely than in-flight counts",
                       lambda a: a.with_(signal="pending")),
}


def candidates(state: GliaState, designs: list[tuple[SloRouterDesign, LedgerEntry]], findings: list[Finding]
               ) -> list[tuple[SloRouterDesign, str, str]]:
    """Designs worth testing next (after the starting design), in order: (design, hypothesis id, why)."""
    anchor, best = anchor_and_best(designs)
    flagged = flagged_topics(findings, HYPOTHESES)
    out: list[tuple[SloRouterDesign, str, str]] = []
    for topic, (hid, statement, make) in HYPOTHESES.items():
        if topic in flagged:
            out.append((make(anchor), hid, f"{hid}: {statement} (finding: {flagged[topic]['text']})"))
    ref = best if best.signal == "prefill" else best.with_(signal="prefill")
    for per in (64, 256, 1024):
        out.append((ref.with_(per_request=per), "H-prefill/per-request",
                    f"count {per} tokens per request in flight beside the queued prefill"))
    for long_prompt in (4096, 6144):
        out.append((ref.with_(long_prompt=long_prompt), "H-split",
                    f"keep prompts of {long_prompt}+ tokens off the replicas serving short ones"))
    out.append((compose(best, designs), "compose", "compose the best value of every dimension tried"))
    if best.per_request:
        for f in (0.5, 2.0):
            out.append((best.with_(per_request=int(best.per_request * f)), "H-prefill/refine",
                        "refine the per-request weight"))
    if best.long_prompt:
        for lp in (best.long_prompt - 1024, best.long_prompt + 1024):
            out.append((best.with_(long_prompt=lp), "H-split/refine", f"refine the long-prompt threshold: {lp}"))
    return out
