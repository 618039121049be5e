"""Autoscaling policies the heuristic researcher writes: the throughput-threshold rule it starts from and
proportional controllers, rendered as readable policy code, and the rules that walk the space."""

from __future__ import annotations

from dataclasses import dataclass

from glia.nodes.heuristic.rules import KeyedDesign, anchor_and_best, compose, flagged_topics, header, latest_value
from glia.state import Finding, GliaState, LedgerEntry

SIGNALS = {"in_flight": ("view.in_flight", "requests in flight (waiting or running)"),
           "running": ("view.running", "requests running"),
           "arrivals": ("view.arrivals_per_s", "requests arriving per second")}


@dataclass(frozen=True)
class AutoscalerDesign(KeyedDesign):
    """kind ``threshold``: one replica more when per-replica decode throughput passes ``high`` tokens/s (or more
    than 5 requests per replica wait), one less below ``low``, nothing within ``cooldown`` s of the last change.
    kind ``proportional``: ``ceil(signal / target) + spare`` replicas, releasing at most ``down_step`` per tick
    (0: no limit)."""

    kind: str = "threshold"
    high: float = 700.0
    low: float = 250.0
    cooldown: float = 120.0
    signal: str = "in_flight"
    target: float = 16.0
    down_step: int = 0
    spare: int = 0

    def describe(self) -> str:
        if self.kind == "threshold":
            return (f"throughput thresholds: +1 replica above {self.high:g} decode tokens/s per replica (or more than "
                    f"5 waiting per replica), -1 below {self.low:g}, {self.cooldown:g} s cooldown")
        out = f"proportional: one replica per {self.target:g} {SIGNALS[self.signal][1]}"
        if self.spare:
            out += f", plus {self.spare} spare"
        if self.down_step:
            out += f", releasing at most {self.down_step} per tick"
        return out

    def code(self) -> str:
        """The policy file."""
        head = header("Autoscaler", self.describe(), self.key())
        if self.kind == "threshold":
            return "\n".join(head + [
                "from glia.simulator import BaseAutoscaler",
                "",
                "",
                "class Autoscaler(BaseAutoscaler):",
                f"    HIGH = {self.high}",
                f"    LOW = {self.low}",
                f"    COOLDOWN = {self.cooldown}",
                "    MAX_WAITING = 5.0",
                "",
                "    def __init__(self, config=None):",
                "        super().__init__(config)",
                "        self.last_change = -float('inf')",
                "",
                "    def desired_replicas(self, view):",
                "        current = view.serving + view.starting",
                "        if view.now - self.last_change < self.COOLDOWN:",
                "            return current",
                "        want = current",
                "        queue = view.waiting > self.MAX_WAITING * max(view.serving, 1)",
                "        if view.decode_tokens_per_s > self.HIGH or queue:",
                "            want = current + 1",
                "        elif view.decode_tokens_per_s < self.LOW and view.waiting == 0:",
                "            want = current - 1",
                "        want = max(view.min_replicas, min(view.max_replicas, want))",
                "        if want != current:",
                "            self.last_change = view.now",
                "        return want",
                ""])
        return "\n".join(head + [
            "import math",
            "",
            "from glia.simulator import BaseAutoscaler",
            "",
            "",
            "class Autoscaler(BaseAutoscaler):",
            f"    TARGET = {self.target}  # {SIGNALS[self.signal][1]} per replica",
            f"    SPARE = {self.spare}",
            f"    DOWN_STEP = {self.down_step}  # replicas released per tick at most (0: no limit)",
            "",
            "    def desired_replicas(self, view):",
            f"        want = math.ceil({SIGNALS[self.signal][0]} / self.TARGET) + self.SPARE",
            "        current = view.serving + view.starting",
            "        if self.DOWN_STEP and want < current - self.DOWN_STEP:",
            "            want = current - self.DOWN_STEP",
            "        return want",
            ""])


BASELINE = AutoscalerDesign()
HYPOTHESES = {
    "per_replica_load": ("H-proportional", "the threshold rule adds or removes one replica per cooldown, so the "
                                           "cluster lags the load on the way up and stays too large on the way "
                                           "down; sizing it in proportion to the requests in flight tracks the load"),
    "slo_margin": ("H-target", "the latency bound leaves capacity to spare (or is broken): the load each replica is "
                               "given can rise (or must fall)"),
}


def _half(x: float) -> float:
    return max(1.0, round(x * 2) / 2)


def line_search(props: list[tuple[AutoscalerDesign, LedgerEntry]], spare: bool) -> list[tuple[float, str]]:
    """Next targets for a proportional design, from those tried with the same other settings: halfway to the
    nearest target tried on each side of the best, or 30 % beyond when none was; upwards first when the latency
    bound leaves capacity to spare. The best is the best feasible design (the least violating if none is)."""
    feasible = [(d, e) for d, e in props if e.get("feasible", True)]
    best = (min(feasible, key=lambda de: de[1]["score"]) if feasible else
            min(props, key=lambda de: de[1].get("violation", 0.0)))[0].target
    tried = sorted({d.target for d, _ in props})
    above = [t for t in tried if t > best]
    below = [t for t in tried if t < best]
    up = _half((best + above[0]) / 2) if above else _half(best * 1.3)
    down = _half((best + below[-1]) / 2) if below else _half(best * 0.8)
    steps = [(up, "more load per replica"), (down, "less load per replica")]
    return steps if spare else steps[::-1]


def candidates(state: GliaState, designs: list[tuple[AutoscalerDesign, LedgerEntry]], findings: list[Finding]
               ) -> list[tuple[AutoscalerDesign, str, str]]:
    """Designs worth testing next (after the starting design), in order: (design, hypothesis id, why)."""
    anchor, best = anchor_and_best(designs)
    flagged = flagged_topics(findings, HYPOTHESES)
    out: list[tuple[AutoscalerDesign, str, str]] = []
    # the load per replica measured where the finding was first made (the starting design's own)
    load = flagged["per_replica_load"]["value"] if "per_replica_load" in flagged else latest_value(
        findings, "per_replica_load")
    start = BASELINE.with_(kind="proportional", target=_half(load or 16.0))
    if "per_replica_load" in flagged:
        hid, statement = HYPOTHESES["per_replica_load"]
        out.append((start, hid, f"{hid}: {statement}; target the {start.target:g} requests per replica measured "
                                f"(finding: {flagged['per_replica_load']['text']})"))
    ref = best if best.kind == "proportional" else anchor if anchor.kind == "proportional" else start
    props = [(d, e) for d, e in designs if d.kind == "proportional" and
             (d.signal, d.down_step, d.spare) == (ref.signal, ref.down_step, ref.spare)]
    margin = flagged.get("slo_margin")
    hid, statement = HYPOTHESES["slo_margin"]
    spare = margin is None or "capacity to spare" in margin["text"]
    for target, why in (line_search(props, spare) if props else []):
        out.append((ref.with_(target=target), f"{hid}/search", f"{hid}: {statement}: target {target:g} ({why})"))
    out.append((ref.with_(signal="running"), "H-signal", "size on the requests running, not those waiting too"))
    for step in (1, 2):
        out.append((ref.with_(down_step=step), "H-damping", f"release at most {step} replica(s) per tick"))
    out.append((ref.with_(spare=1), "H-spare", "one spare replica against bursts"))
    out.append((compose(ref, [(d, e) for d, e in designs if d.kind == "proportional"],
                        ("signal", "target", "down_step", "spare")), "compose",
                "compose the best value of every dimension tried"))
    for dt in (-1.0, 1.0):
        out.append((ref.with_(target=_half(ref.target + dt)), "H-target/refine",
                    f"refine the target: {ref.target + dt:g}"))
    return out
