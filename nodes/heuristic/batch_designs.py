"""Batch (admission) policies the heuristic researcher writes for a replica: a small design space, rendered as
readable policy code, and the rules that walk it."""

from __future__ import annotations

from dataclasses import dataclass

from glia.nodes.heuristic.rules import KeyedDesign, anchor_and_best, compose, flagged_topics, header
from glia.state import Finding, GliaState, LedgerEntry

ORDERS = {"fcfs": "first come, first served", "spf": "shortest prompt first",
          "aged": "shortest prompt first, a prompt's priority rising with its wait"}


@dataclass(frozen=True)
class BatchDesign(KeyedDesign):
    """order: ``fcfs``, ``spf`` or ``aged`` (shortest prompt first, ``aging`` tokens of priority per second waited);
    admission: hold admission while the replica's projected KV use (each active request charged the larger of what
    it holds and ``prompt * (1 + growth)``) plus the candidate's would pass ``1 - headroom`` of the cache."""

    order: str = "fcfs"
    admission: bool = False
    growth: float = 0.6
    headroom: float = 0.03
    aging: float = 100.0

    def describe(self) -> str:
        parts = [ORDERS[self.order] + (f" ({self.aging:g} tokens per second waited)" if self.order == "aged" else "")]
        if self.admission:
            parts.append(f"admit only while prompt x {1 + self.growth:.2f} of blocks fits under "
                         f"{100 * (1 - self.headroom):.0f}% of the cache with every active request so charged")
        return "; ".join(parts)

    def code(self) -> str:
        """The policy file."""
        lines = header("Batch policy", self.describe(), self.key()) + [
            "from glia.simulator import BaseBatchPolicy",
            "",
            "",
            "class Batch(BaseBatchPolicy):",
            f"    GROWTH = {self.growth}",
            f"    HEADROOM = {self.headroom}",
            f"    AGING = {self.aging}",
            "",
            "    def pick(self, pending, replica):",
        ]
        if self.order == "fcfs":
            lines.append("        return 0")
        elif self.order == "spf":
            lines.append("        return min(range(len(pending)), key=lambda i: (pending[i].num_prefill_tokens, "
                         "pending[i].arrived_at))")
        else:
            lines += ["        now = replica.now",
                      "        return min(range(len(pending)), key=lambda i: (pending[i].num_prefill_tokens - "
                      "self.AGING * (now - pending[i].arrived_at), pending[i].arrived_at))"]
        lines += ["", "    def next_index(self, pending, replica):", "        i = self.pick(pending, replica)"]
        if self.admission:
            lines += [
                "        if not replica.num_active_requests:",
                "            return i  # an idle replica takes anything",
                "        bs, scale = replica.block_size, 1.0 + self.GROWTH",
                "        used = 0",
                "        for r in replica.active_queue:",
                "            held = -(-r.num_processed_tokens // bs)",
                "            charged = -(-int(r.num_prefill_tokens * scale) // bs)",
                "            used += held if held > charged else charged",
                "        need = -(-int(pending[i].num_prefill_tokens * scale) // bs)",
                "        if used + need > (1.0 - self.HEADROOM) * replica.num_blocks:",
                "            return None  # no head-room: admit nothing until a request completes",
            ]
        lines += ["        return i", ""]
        return "\n".join(lines)


BASELINE = BatchDesign()

# finding topic -> (hypothesis id, statement, design that tests it, from the anchor)
HYPOTHESES = {
    "short_prompts_wait": ("H-spf", "short requests wait in the replicas' queues behind long ones; admitting the "
                                    "shortest prompt first cuts the mean", lambda a: a.with_(order="spf")),
    "restarts": ("H-admission", "replicas admit more than their KV cache can grow into, so requests are preempted "
                                "and recomputed; holding admission until head-room exists avoids it",
                 lambda a: a.with_(admission=True)),
    "tail": ("H-aging", "shortest-first starves long prompts; letting priority grow with the wait trims the tail "
                        "without losing the mean", lambda a: a.with_(order="aged")),
}


def candidates(state: GliaState, designs: list[tuple[BatchDesign, LedgerEntry]], findings: list[Finding]
               ) -> list[tuple[BatchDesign, str, str]]:
    """Designs worth testing next (after the starting design), in order: (design, hypothesis id, why)."""
    anchor, best = anchor_and_best(designs)
    flagged = flagged_topics(findings, HYPOTHESES)
    out: list[tuple[BatchDesign, str, str]] = []
    for topic, (hid, statement, make) in HYPOTHESES.items():
        if topic in flagged:
            out.append((make(anchor), hid, f"{hid}: {statement} (finding: {flagged[topic]['text']})"))
    out.append((anchor.with_(order="spf", admission=True), "compose", "shortest first with admission head-room"))
    ref = best if best.admission else best.with_(admission=True)
    for g in (0.2, 0.3, 0.45, 1.0):
        out.append((ref.with_(growth=g), "H-admission/growth", f"sweep the reservation growth: {g}"))
    for h in (0.0, 0.01, 0.06):
        out.append((ref.with_(headroom=h), "H-admission/headroom", f"sweep the head-room: {h}"))
    for aging in (25.0, 100.0, 400.0):
        out.append((best.with_(order="aged", aging=aging), "H-aging/rate", f"aged shortest-first at {aging:g} "
                    "tokens of priority per second waited"))
    out.append((compose(best, designs), "compose", "compose the best value of every dimension tried"))
    for dg in (-0.1, -0.05, 0.05, 0.1):
        if best.admission and best.growth + dg > 0:
            out.append((best.with_(growth=round(best.growth + dg, 3)), "H-admission/refine", "refine the growth"))
    for dh in (-0.01, 0.01, 0.02):
        if best.admission and 0 <= best.headroom + dh < 0.5:
            out.append((best.with_(headroom=round(best.headroom + dh, 3)), "H-admission/refine",
                        "refine the head-room"))
    return out
