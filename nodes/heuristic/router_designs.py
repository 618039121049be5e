"""Routing policies the heuristic researcher writes: a small design space, rendered as readable policy code."""

from __future__ import annotations

from dataclasses import dataclass

from glia.nodes.heuristic.rules import KeyedDesign


@dataclass(frozen=True)
class RouterDesign(KeyedDesign):
    """signal: how a replica's load is measured (``count`` in-flight requests, ``blocks`` allocated plus pending
    prompt blocks, ``projected`` pessimistic reservations); admission: hold requests centrally while head-room is
    short; growth / extra_tokens: each request reserves ``prompt * (1 + growth) + extra_tokens`` tokens of blocks;
    headroom: share of blocks kept free; order: ``fcfs`` or ``spf`` (shortest prompt first) in the global queue."""

    signal: str = "count"
    admission: bool = False
    growth: float = 0.6
    extra_tokens: int = 0
    headroom: float = 0.03
    order: str = "fcfs"

    def describe(self) -> str:
        parts = [{"count": "least in-flight requests", "blocks": "least KV blocks in use",
                  "projected": "least projected KV usage"}[self.signal]]
        if self.admission:
            parts.append(f"hold requests unless prompt x {1 + self.growth:.2f}"
                         + (f" + {self.extra_tokens} tokens" if self.extra_tokens else "")
                         + f" of blocks fit under {100 * (1 - self.headroom):.0f}% of the cache")
        if self.order == "spf":
            parts.append("shortest prompt first")
        return "; ".join(parts)

    def code(self) -> str:
        """The policy file."""
        reserve = (f"-(-int(prompt * {1 + self.growth:.3f} + {self.extra_tokens}) // block_size)")
        lines = [
            f'"""Router: {self.describe()}.',
            "",
            f"Design key: {self.key()}",
            '"""',
            "",
            "from glia.simulator import BaseGlobalScheduler",
            "",
            "",
            "def reserve(prompt, block_size):",
            '    """Blocks a request is charged for: its prompt plus the growth we expect."""',
            f"    return {reserve}",
            "",
            "",
            "class Router(BaseGlobalScheduler):",
            f"    HEADROOM = {self.headroom}",
            "",
            "    def load(self, rs):",
        ]
        if self.signal == "count":
            lines.append("        return rs.num_pending_requests + rs.num_active_requests")
        elif self.signal == "blocks":
            lines += ["        bs = rs.block_size",
                      "        return rs.num_allocated_blocks + sum(-(-r.num_prefill_tokens // bs) "
                      "for r in rs.pending_queue)"]
        else:
            lines += ["        return self.projected(rs)"]
        lines += [
            "",
            "    def projected(self, rs):",
            '        """Pessimistic KV usage: each request charged the larger of what it holds and its reservation."""',
            "        bs, used = rs.block_size, 0",
            "        for r in rs.active_queue:",
            "            held = -(-r.num_processed_tokens // bs)",
            "            charged = reserve(r.num_prefill_tokens, bs)",
            "            used += held if held > charged else charged",
            "        for r in rs.pending_queue:",
            "            used += reserve(r.num_prefill_tokens, bs)",
            "        return used",
            "",
            "    def schedule(self):",
            "        if not self._request_queue:",
            "            return []",
        ]
        if self.order == "spf":
            lines.append("        self._request_queue.sort(key=lambda r: (r.num_prefill_tokens, r.arrived_at))")
        else:
            lines.append("        self.sort_requests()")
        lines.append("        load = {rid: self.load(rs) for rid, rs in self._replica_schedulers.items()}")
        if self.admission:
            lines += [
                "        usage = load" if self.signal == "projected" else
                "        usage = {rid: self.projected(rs) for rid, rs in self._replica_schedulers.items()}",
                "        limit = {rid: (1 - self.HEADROOM) * rs.num_blocks for rid, rs in "
                "self._replica_schedulers.items()}",
            ]
        lines += [
            "        mapping = []",
            "        while self._request_queue:",
            "            request = self._request_queue[0]",
            "            rid = min(load, key=load.__getitem__)",
        ]
        if self.admission:
            lines += [
                "            bs = self._replica_schedulers[rid].block_size",
                "            need = reserve(request.num_prefill_tokens, bs)",
                "            fits = [i for i in usage if usage[i] == 0 or usage[i] + need <= limit[i]]",
                "            if not fits:",
                "                break  # no head-room anywhere: hold the queue",
                "            if rid not in fits:",
                "                rid = min(fits, key=load.__getitem__)",
                "            usage[rid] += need",
            ]
        if self.signal == "count":
            lines.append("            load[rid] += 1")
        elif self.signal == "blocks" or not self.admission:
            lines.append("            load[rid] += reserve(request.num_prefill_tokens, "
                         "self._replica_schedulers[rid].block_size)")
        lines += [
            "            self._request_queue.pop(0)",
            "            mapping.append((rid, request))",
            "        return mapping",
            "",
        ]
        return "\n".join(lines)
