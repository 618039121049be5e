"""Routers for re-designing a routing policy where it is weak: the routing task's space (load signal, admission
held for KV head-room, global order) with a second kind of admission, held for free batch slots, rendered as
readable policy code, and the rules that walk the space."""

from __future__ import annotations

from dataclasses import dataclass

from glia.nodes.heuristic.rules import KeyedDesign, anchor_and_best, compose, flagged_topics, header
from glia.state import Finding, GliaState, LedgerEntry


@dataclass(frozen=True)
class AdaptiveRouterDesign(KeyedDesign):
    """signal: ``count`` (in-flight requests) or ``blocks`` (KV blocks in use plus pending prompts' blocks);
    admission: ``none``, ``memory`` (hold requests unless ``prompt * (1 + growth)`` tokens of blocks fit under
    ``1 - headroom`` of the cache, every request charged so) or ``slots`` (hold requests unless a replica has fewer
    than ``batch_size_cap + slack`` requests in flight); order: ``fcfs`` or ``spf`` in the global queue."""

    signal: str = "count"
    admission: str = "memory"
    growth: float = 0.25
    headroom: float = 0.03
    slack: int = 0
    order: str = "spf"

    def describe(self) -> str:
        parts = [{"count": "least in-flight requests", "blocks": "least KV blocks in use"}[self.signal]]
        if self.admission == "memory":
            parts.append(f"hold requests unless prompt x {1 + self.growth:.2f} of blocks fit under "
                         f"{100 * (1 - self.headroom):.0f}% of the cache")
        elif self.admission == "slots":
            parts.append("hold requests unless a replica has fewer than the batch-size cap"
                         + (f" {self.slack:+d}" if self.slack else "") + " requests in flight")
        if self.order == "spf":
            parts.append("shortest prompt first")
        return "; ".join(parts)

    def code(self) -> str:
        """The policy file."""
        memory = self.admission == "memory"
        lines = header("Router", self.describe(), self.key()) + ["from glia.simulator import BaseGlobalScheduler", ""]
        if memory:
            lines += ["",
                      "def reserve(prompt, block_size):",
                      '    """Blocks a request is charged for: its prompt plus the growth we expect."""',
                      f"    return -(-int(prompt * {1 + self.growth:.3f}) // block_size)", ""]
        lines += ["", "class Router(BaseGlobalScheduler):"]
        lines += [f"    HEADROOM = {self.headroom}"] if memory else []
        lines += [f"    SLACK = {self.slack}"] if self.admission == "slots" else []
        lines += ["", "    def load(self, rs):"]
        if self.signal == "count":
            lines.append("        return rs.num_pending_requests + rs.num_active_requests")
        else:
            lines += ["        bs = rs.block_size",
                      "        return rs.num_allocated_blocks + sum(-(-r.num_prefill_tokens // bs) "
                      "for r in rs.pending_queue)"]
        if memory:
            lines += ["",
                      "    def projected(self, rs):",
                      '        """Pessimistic KV usage: each request charged the larger of what it holds and its '
                      'reservation."""',
                      "        bs, used = rs.block_size, 0",
                      "        for r in rs.active_queue:",
                      "            held = -(-r.num_processed_tokens // bs)",
                      "            charged = reserve(r.num_prefill_tokens, bs)",
                      "            used += held if held > charged else charged",
                      "        for r in rs.pending_queue:",
                      "            used += reserve(r.num_prefill_tokens, bs)",
                      "        return used"]
        lines += ["",
                  "    def schedule(self):",
                  "        if not self._request_queue:",
                  "            return []"]
        if self.order == "spf":
            lines.append("        self._request_queue.sort(key=lambda r: (r.num_prefill_tokens, r.arrived_at))")
        else:
            lines.append("        self.sort_requests()")
        lines.append("        load = {rid: self.load(rs) for rid, rs in self._replica_schedulers.items()}")
        if self.admission == "memory":
            lines += ["        usage = {rid: self.projected(rs) for rid, rs in self._replica_schedulers.items()}",
                      "        limit = {rid: (1 - self.HEADROOM) * rs.num_blocks for rid, rs in "
                      "self._replica_schedulers.items()}"]
        elif self.admission == "slots":
            lines += ["        slots = self._config.cluster.batch_size_cap + self.SLACK",
                      "        flight = {rid: rs.num_pending_requests + rs.num_active_requests for rid, rs in "
                      "self._replica_schedulers.items()}"]
        lines += ["        mapping = []",
                  "        while self._request_queue:",
                  "            request = self._request_queue[0]"]
        if self.admission == "memory":
            lines += ["            need = reserve(request.num_prefill_tokens, "
                      "self._replica_schedulers[next(iter(load))].block_size)",
                      "            fits = [i for i in usage if usage[i] == 0 or usage[i] + need <= limit[i]]"]
        elif self.admission == "slots":
            lines.append("            fits = [i for i in flight if flight[i] < slots]")
        else:
            lines.append("            fits = list(load)")
        lines += ["            if not fits:",
                  "                break  # no head-room anywhere: hold the queue",
                  "            rid = min(fits, key=load.__getitem__)"]
        if self.admission == "memory":
            lines.append("            usage[rid] += need")
        elif self.admission == "slots":
            lines.append("            flight[rid] += 1")
        if self.signal == "count":
            lines.append("            load[rid] += 1")
        else:
            lines.append("            load[rid] += -(-request.num_prefill_tokens // "
                         "self._replica_schedulers[rid].block_size)")
        lines += ["            self._request_queue.pop(0)",
                  "            mapping.append((rid, request))",
                  "        return mapping", ""]
        return "\n".join(lines)


BASELINE = AdaptiveRouterDesign()
HYPOTHESES = {
    "batch_cap": ("H-slots", "with memory to spare the batch-size cap, not the KV cache, limits admission: requests "
                             "queue inside replicas in arrival order; holding them centrally until a batch slot is "
                             "free lets the shortest go first", lambda a: a.with_(admission="slots")),
    "imbalance": ("H-signal", "in-flight counts hide how much memory a replica has left; routing by KV blocks in use "
                              "balances better", lambda a: a.with_(signal="blocks")),
}


def candidates(state: GliaState, designs: list[tuple[AdaptiveRouterDesign, LedgerEntry]], findings: list[Finding]
               ) -> list[tuple[AdaptiveRouterDesign, str, str]]:
    """Designs worth testing next (after the starting design), in order: (design, hypothesis id, why)."""
    anchor, best = anchor_and_best(designs)
    flagged = flagged_topics(findings, HYPOTHESES)
    out: list[tuple[AdaptiveRouterDesign, str, str]] = []
    for topic, (hid, statement, make) in HYPOTHESES.items():
        if topic in flagged:
            out.append((make(anchor), hid, f"{hid}: {statement} (finding: {flagged[topic]['text']})"))
    if best.admission == "slots":
        for slack in (-16, -8, 8, 16):
            out.append((best.with_(slack=slack), "H-slots/slack", f"sweep the slot slack: {slack:+d}"))
        out.append((best.with_(order="fcfs" if best.order == "spf" else "spf"), "H-slots/order",
                    "does the global order matter once slots are held?"))
    if best.admission == "memory":
        for g in (0.6, 1.0):
            out.append((best.with_(growth=g), "H-headroom/growth", f"sweep the reservation growth: {g}"))
    out.append((best.with_(admission="none"), "H-none", "route at once: does admission help here at all?"))
    out.append((compose(best, designs), "compose", "compose the best value of every dimension tried"))
    if best.admission == "slots":
        for d in (-4, 4):
            out.append((best.with_(slack=best.slack + d), "H-slots/refine", f"refine the slack: {best.slack + d:+d}"))
    return out
