"""The heuristic Researcher: the same protocol and tools as the LLM researcher, driven by rules.

Baseline first; then hypotheses from what the analyst finds (for routing: many restarts -> admission head-room;
short prompts stuck behind long ones -> shortest prompt first; imbalance -> a better load signal; long outputs ->
reserve for them); each tested by writing a candidate policy and running it; then parameter sweeps around the best
design and a composition of what worked. The routing rules are below; a task of another kind names its design space
(``[offline] space``, ``design_spaces.py``: batch policies, autoscalers, routers for a TTFT bound, routers
re-designed where they are weak), whose rules work the same way. Every decision is a function of the state, so a
resumed run continues where it was."""

from __future__ import annotations

import random

from langchain_core.messages import AIMessage
from langgraph.runtime import Runtime

from glia.nodes.heuristic.router_designs import RouterDesign
from glia.nodes.heuristic.rules import compose
from glia.nodes.heuristic.spaces import SPACES, DesignSpace
from glia.nodes.progress import budget_exhausted, own_ledger
from glia.state import Finding, GliaContext, GliaState, Hypothesis, LedgerEntry
from glia.tools.evaluator import program_key

BASELINE = RouterDesign()
NAME = "heuristic researcher (offline, rule-driven)"

# finding topic -> (hypothesis id, statement, design that tests it)
HYPOTHESES = {
    "imbalance": ("H-signal", "in-flight request counts hide how much memory a replica has left; routing by KV "
                              "blocks in use balances better", RouterDesign("blocks")),
    "restarts": ("H-headroom", "replicas admit more work than their KV cache can grow into, so requests are "
                               "preempted and recomputed; holding requests centrally until head-room exists avoids "
                               "it", RouterDesign("projected", True)),
    "short_prompts_wait": ("H-spf", "short requests wait behind long ones; releasing the shortest prompt first cuts "
                                    "the mean", RouterDesign("projected", True, order="spf")),
    "output_length": ("H-reserve", "outputs are longer than prompts, so a reservation proportional to the prompt "
                                   "under-reserves short prompts; reserve extra tokens for the output", None),
}


def _label_design(entry: LedgerEntry, starter: str = "") -> RouterDesign | None:
    return _design_of(entry, RouterDesign.from_key, BASELINE, starter)


def _design_of(entry: LedgerEntry, parse, start, starter: str = ""):
    """The design of the space an experiment measured: by its label (the designs this researcher writes), or, for
    one another researcher wrote (a run whose researcher was swapped for this one), the starting design when its
    program is that design's or the task's starter file; None for any other (in the ledger, measured, but not a
    design of this space: this researcher goes on with its own)."""
    design = parse(entry.get("label", "").split(": ", 1)[-1])
    if design is None and entry.get("program") in {program_key(start.code()), program_key(starter or "")}:
        return start
    return design


def _flagged(state: GliaState) -> dict[str, Finding]:
    out: dict[str, Finding] = {}
    for f in state.get("findings", []):
        if f.get("flagged") and f["topic"] in HYPOTHESES:
            out.setdefault(f["topic"], f)
    return out


def _mean_output(state: GliaState) -> int:
    vals = [f["value"] for f in state.get("findings", []) if f["topic"] == "output_length" and f.get("value")]
    return int(vals[-1]) if vals else 0


def candidates(state: GliaState) -> list[tuple[RouterDesign, str, str]]:
    """Designs worth testing next, in order: (design, hypothesis id, why)."""
    ledger = [e for e in own_ledger(state) if not e.get("error")]
    starter = state["task"]["design"].get("starter_source", "")
    designs = [(d, e) for e in ledger if (d := _label_design(e, starter))]
    if not designs:
        return [(BASELINE, "", "measure the starting design")]
    best_d, _ = min(designs, key=lambda de: de[1]["score"])
    # sweeps centre on the last design that improved clearly, not on one that won by noise
    anchor = min((de for de in designs if de[1].get("verdict") == "improved"), key=lambda de: de[1]["score"],
                 default=(best_d, None))[0]
    flagged = _flagged(state)
    out: list[tuple[RouterDesign, str, str]] = []
    for topic, (hid, statement, design) in HYPOTHESES.items():
        if topic in flagged and design is not None:
            out.append((design, hid, f"{hid}: {statement} (finding: {flagged[topic]['text']})"))
    recent = [i for i in state.get("interventions", []) if i.get("context") == state.get("context_id")]
    if recent and recent[-1]["decision"] in ("stop_line", "combine") and recent[-1]["after_count"] == len(
            own_ledger(state)):
        out = [(compose(best_d, designs), "compose", f"supervisor: {recent[-1]['text']}")] + out
    if anchor.admission:
        for g in (0.3, 1.0, 1.5):
            out.append((anchor.with_(growth=g), "H-headroom/growth", f"sweep the reservation growth: {g}"))
        for h in (0.01, 0.06):
            out.append((anchor.with_(headroom=h), "H-headroom/headroom", f"sweep the head-room: {h}"))
        mean_out = _mean_output(state)
        if "output_length" in flagged and mean_out:
            for extra in (mean_out // 4, mean_out // 2, mean_out):
                out.append((anchor.with_(extra_tokens=int(extra)), "H-reserve/extra",
                            f"H-reserve: {HYPOTHESES['output_length'][1]}: +{int(extra)} tokens"))
        out.append((anchor.with_(signal="count" if anchor.signal != "count" else "projected"), "H-signal/signal",
                    "does the load signal matter once admission is controlled?"))
        if anchor.order == "fcfs":
            out.append((anchor.with_(order="spf"), "H-spf/order", "shortest prompt first on top of the best"))
    out.append((compose(best_d, designs), "compose", "compose the best value of every dimension tried"))
    for dg in (-0.2, -0.1, 0.1, 0.2):
        if best_d.admission and best_d.growth + dg > 0:
            out.append((best_d.with_(growth=round(best_d.growth + dg, 2)), "H-headroom/refine-growth",
                        "refine the growth"))
    for dh in (-0.01, 0.01, 0.02):
        if best_d.admission and 0 < best_d.headroom + dh < 0.5:
            out.append((best_d.with_(headroom=round(best_d.headroom + dh, 3)), "H-headroom/refine-headroom",
                        "refine the head-room"))
    # while budget is left: a finer local search around the best design
    for step in (0.05, 0.15, 0.25):
        for sign in (-1, 1):
            g = round(best_d.growth + sign * step, 3)
            if best_d.admission and g > 0:
                out.append((best_d.with_(growth=g), "H-headroom/local", f"local search: growth {g}"))
    for extra in (16, 32, 64):
        if best_d.admission:
            out.append((best_d.with_(extra_tokens=best_d.extra_tokens + extra), "H-reserve/local",
                        f"local search: +{extra} reserved tokens"))
    for h in (0.005, 0.015, 0.025, 0.035):
        if best_d.admission:
            out.append((best_d.with_(headroom=h), "H-headroom/local", f"local search: head-room {h}"))
    return [c for c in out if c[1] not in _stopped_lines(state)]


def _stopped_lines(state: GliaState) -> set[str]:
    """Lines of experiments the supervisor stopped: the line of the experiment each stop_line came after."""
    by_id = {e["id"]: e for e in own_ledger(state)}
    stopped = set()
    for i in state.get("interventions", []):
        e = by_id.get(i.get("after_experiment"))
        if i.get("context") == state.get("context_id") and i["decision"] == "stop_line" and e and \
                "/" in e.get("hypothesis", ""):
            stopped.add(e["hypothesis"])
    return stopped


def _hypotheses_update(state: GliaState, hypotheses: dict = HYPOTHESES) -> list[Hypothesis]:
    """New hypotheses from findings; statuses from the experiments that tested them."""
    cid = state.get("context_id")
    known = {h["id"]: h for h in state.get("hypotheses", []) if h.get("context") == cid}
    ledger = own_ledger(state)
    out = []
    flagged: dict[str, Finding] = {}
    for f in state.get("findings", []):
        if f.get("flagged") and f["topic"] in hypotheses:
            flagged.setdefault(f["topic"], f)
    for topic, f in flagged.items():
        hid, statement = hypotheses[topic][:2]
        h: Hypothesis = dict(known.get(f"{cid}-{hid}") or {"id": f"{cid}-{hid}", "context": cid, "name": hid,
                                                "statement": statement, "source": f["text"], "status": "open",
                                                "evidence": []})
        tests = [e for e in ledger if e.get("hypothesis", "").split("/")[0] == hid]
        if tests:  # supported once a test of it improved on the best design before it
            h["status"] = "supported" if any(e.get("verdict") == "improved" for e in tests) else "refuted"
            h["evidence"] = [e["id"] for e in tests]
        if h != known.get(h["id"]):
            out.append(h)
    return out


def _space_plan(state: GliaState, space: DesignSpace) -> tuple[list[tuple], set[str]]:
    """A non-routing task's plan: (candidates in order, keys of the designs tried), from its design space."""
    start = space.starting_design(state["task"]["design"].get("starter_source", ""))
    ledger = own_ledger(state)
    starter = state["task"]["design"].get("starter_source", "")
    tried = {d.key() for e in ledger if (d := _design_of(e, space.parse, start, starter))}
    designs = [(d, e) for e in ledger if not e.get("error") and (d := _design_of(e, space.parse, start, starter))]
    if not designs:
        return [(start, "", "measure the starting design")], tried
    plan = space.propose(state, designs, state.get("findings", []))
    return [c for c in plan if c[1] not in _stopped_lines(state)], tried


def seeded_order(plan: list[tuple], seed: int) -> list[tuple]:
    """The plan in the order a run with ``seed`` walks it: seed 0 as the rules wrote it; another seed keeps the
    designs that test a hypothesis from the findings first and draws the order of the sweeps, compositions and local
    search after them, so repeated runs (``glia compare``) are distinct runs rather than one run repeated."""
    if not seed:
        return plan
    first = [c for c in plan if (c[1] and "/" not in c[1] and c[1] != "compose") or c[2].startswith("supervisor:")]
    rest = [c for c in plan if c not in first]
    random.Random(seed).shuffle(rest)
    return first + rest


def offline_researcher(state: GliaState, runtime: Runtime[GliaContext]) -> GliaState:
    if state["task"].get("design", {}).get("layer") == "program":  # no model, no ideas: the constants search
        from glia.nodes.heuristic.program_constants import program_constants_researcher
        return program_constants_researcher(state, runtime)
    space = SPACES.get((state["task"].get("offline") or {}).get("space", "router"))
    evaluation = getattr(runtime.context, "evaluation", None)
    seed = evaluation.seed if evaluation else 0
    hyps = _hypotheses_update(state, space.hypotheses if space else HYPOTHESES)
    stop = budget_exhausted(state)
    ledger = own_ledger(state)
    if space is None:  # experiments of designs not of this space (another researcher's) are in the ledger, not tried
        tried = {d.key() for e in ledger if (d := _label_design(e, state["task"]["design"]["starter_source"]))}
        plan = [] if stop else candidates(state)
    else:
        plan, tried = ([], set()) if stop else _space_plan(state, space)
    plan = seeded_order(plan, seed)
    nxt = next(((d, h, why) for d, h, why in plan if d.key() not in tried), None)
    if nxt is None:
        best = state.get("best")
        text = (f"I am the {NAME}. I stop here ({stop or 'no untested design left in my plan'}). "
                + (f"Proposed design: {best['id']} ({best.get('label', '')})." if best else "No design succeeded."))
        return {"researcher_messages": [AIMessage(content=text, name="researcher")], "phase": "done",
                "hypotheses": hyps}
    design, hid, why = nxt
    n = len(ledger) + 1
    label = ("baseline: " if not ledger else "") + design.key()
    calls = []
    if ledger:  # the starter already sits in the design file for the baseline (unless another researcher ran)
        calls.append({"name": "write_file", "id": f"e{n:03d}w", "type": "tool_call",
                      "args": {"path": state["task"]["design"]["file"], "content": design.code()}})
    calls.append({"name": "run_simulation", "id": f"e{n:03d}", "type": "tool_call",
                  "args": {"candidate": state["task"]["design"]["file"], "label": label, "hypothesis": hid}})
    text = f"Experiment {n}: {why}. Design: {design.describe()}."
    msg = AIMessage(content=text, tool_calls=calls, name="researcher")
    return {"researcher_messages": [msg], "phase": "experiment", "hypotheses": hyps}
