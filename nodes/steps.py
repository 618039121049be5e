"""The harness's own nodes, beside the agents: set-up, the baselines, the tools node (which runs the researcher's
tool calls and keeps the ledger), and the finalisation of a context and of the run."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from langchain_core.messages import AIMessage, ToolMessage, messages_to_dict
from langgraph.runtime import Runtime

from glia.nodes.common import task_evaluator, tool_context
from glia.nodes.programs import harness as program_harness
from glia.nodes.progress import charged_entries, own_ledger, sims_left
from glia.nodes.report import write_report
from glia.nodes.roles import ROLES
from glia.simulator.harness import interrupt
from glia.state import (
    Baseline,
    BestDesign,
    ContextOutcome,
    GliaContext,
    GliaState,
    LedgerEntry,
    feasible,
    improves,
    score,
    violation,
    worse,
)
from glia.state.tasks.program_task import is_program
from glia.state.tasks.task import objective_ci, policy_name
from glia.tools.heldout import measure_heldout, plan
from glia.tools.simulation import SnapshotChanged, best_code, confirm_hardened, describe_check, run_baseline
from glia.tools.toolkit import execute
from glia.tools.workspace import WorkspaceError, read_inside, write_inside


def setup_context(state: GliaState, runtime: Runtime[GliaContext]) -> GliaState:
    """Create the context's workspace and put the starter design in the design file (once)."""
    ws = Path(state["workspace"])
    ws.mkdir(parents=True, exist_ok=True)
    # never through a link, never over what is there (a resumed context keeps its design file)
    write_inside(ws, state["task"]["design"]["file"], (state["task"]["design"]["starter_source"] or "").encode(),
                 replace=False)
    if is_program(state["task"]):  # the problem's own pieces, for the shell tool (the evaluator's files hidden)
        program_harness.copy_problem(ws, state["task"])
    runtime.stream_writer({"event": "context_start", "context": state["context_id"]})
    return {"started_at": state.get("started_at") or time.time()}


def measure_baselines(state: GliaState, runtime: Runtime[GliaContext]) -> GliaState:
    """Measure the task's baselines once per run (not counted against the design budget)."""
    task = state["task"]
    done = {b["policy"] for b in state.get("baselines", [])}  # CACHE: a run's baselines, by name, in its state
    out: list[Baseline] = []
    evaluator = task_evaluator(state, runtime.context)
    if is_program(task) and "starter" not in done:  # a program task's baseline: the starter, measured 3 times
        b = program_harness.starter_baseline(state, evaluator)
        out.append(b)
        runtime.stream_writer({"event": "baseline", "policy": "starter", "metrics": b["metrics"],
                               "feasible": b["feasible"], "violation": b["violation"], "noise": b["noise"]})
    for spec in task["benchmark"]["baselines"]:
        name = policy_name(spec)
        if name in done:
            continue
        b = run_baseline(evaluator, spec, f"{state['thread_id']}-baseline-{name}")
        b.update(_judged(task, b), policy=name, spec=spec)
        out.append(b)
        runtime.stream_writer({"event": "baseline", "policy": name, "metrics": b["metrics"],
                               "feasible": b["feasible"], "violation": b["violation"]})
    evaluator.flush()  # in the telemetry before the step is checkpointed
    return {"baselines": out, "started_at": state.get("started_at") or time.time()}


def _judged(task, m: dict) -> dict:
    """A measurement's score (penalised by the constraint), feasibility and violation; a failed run is infeasible."""
    if m.get("error"):
        return {"score": math.inf, "feasible": False, "violation": math.inf}
    if m.get("valid") is False:  # a program its evaluator found invalid: measured, never the best
        return {"score": score(task, m["metrics"]), "feasible": False,
                "violation": max(violation(task, m["metrics"]), 1.0)}
    return {"score": score(task, m["metrics"]), "feasible": feasible(task, m["metrics"]),
            "violation": violation(task, m["metrics"])}


def run_tools(state: GliaState, runtime: Runtime[GliaContext]) -> GliaState:
    """Run the researcher's tool calls; record simulations in the ledger and the best design."""
    last = next(m for m in reversed(state["researcher_messages"]) if isinstance(m, AIMessage))
    ctx = tool_context(state, runtime.context)
    task = state["task"]
    ledger = own_ledger(state)
    best_score = min((e["score"] for e in ledger), default=math.inf)   # what the search compares (penalised)
    best_feasible = min((e["score"] for e in ledger if e.get("feasible", True) and not e.get("error")),
                        default=math.inf)                                  # what can be called best
    left = sims_left(state)
    messages: list[ToolMessage] = []
    entries: list[LedgerEntry] = []
    best: BestDesign | None = None
    for tc in last.tool_calls:
        runtime.stream_writer({"event": "tool_call", "context": state["context_id"], "tool": tc["name"],
                               "args": {k: (v if len(str(v)) < 200 else str(v)[:200] + "...")
                                        for k, v in (tc.get("args") or {}).items()}})
        # an experiment is named by its place in the context (e001, ...), so a re-executed step names it the same
        seq = len(ledger) + len(entries) + 1
        res = execute(ctx, tc["name"], tc.get("args") or {}, f"e{seq:03d}" if tc["name"] == "run_simulation" else
                      tc["id"], left)
        interrupt.check()  # stopped meanwhile: this step is discarded and runs again on resume (nothing is lost)
        if res.experiment is not None:
            e = res.experiment
            left -= 0 if e.get("baseline") else 1  # the unchanged starter, its baseline read back: not charged
            judged = _judged(task, e)
            sc = judged["score"]
            verdict = ("error" if e.get("error") else "improved" if improves(sc, best_score, 0.99) else
                       "worse" if worse(sc, best_score, 1.05) else "no gain")
            if is_program(task):  # against the starter's noise band, in the objective's units
                verdict = ("baseline" if e.get("baseline") else
                           program_harness.verdict(e, sc, best_score, ctx.evaluator.noise))
                res.text += program_harness.noise_note(verdict, ctx.evaluator.noise)
            entry = {**e, **judged, "context": state["context_id"], "seq": seq,
                     "verdict": verdict, "workspace": str(ctx.workspace)}
            if judged["feasible"] and sc < best_feasible:  # reported best once a hardened re-measurement agrees
                if is_program(task) and e.get("baseline"):  # measured in fresh copies already, for the baseline
                    check, line = program_harness.baseline_check(e)
                elif is_program(task):  # re-measured in a fresh copy of the working directory
                    check, line = program_harness.confirm(e, ctx.evaluator)
                else:
                    check = confirm_hardened(ctx.workspace, e, ctx.evaluator)
                    line = describe_check(check)
                entry["hardened"] = check
                res.text += "\n" + line
                if not check["agree"]:
                    sc = math.inf
                    entry.update(score=sc, feasible=False, verdict="error", error={
                        "kind": "hardened_disagrees", "message": line})
                    res.error = True
            entries.append(entry)
            best_score = min(best_score, sc)
            if entry["feasible"] and sc < best_feasible:
                best_feasible = sc
                best = {"id": e["id"], "context": state["context_id"], "label": e.get("label", ""), "score": sc,
                        "value": e["metrics"].get(task["objective"]["metric"]), "metrics": e["metrics"],
                        "ci90": objective_ci(task, e),
                        "snapshot": e.get("frozen") or str(ctx.workspace / e["snapshot"]),
                        "sha256": e.get("sha256"), "file": e["snapshot"],
                        "hash": e["hash"], "hardened": entry["hardened"],
                        **({"private": e["private"]} if e.get("private") else {})}
            runtime.stream_writer({"event": "experiment", "context": state["context_id"], "id": e["id"],
                                   "label": e.get("label", ""), "metrics": e["metrics"], "error": entry.get("error"),
                                   "verdict": entry["verdict"], "feasible": entry["feasible"],
                                   "violation": entry["violation"], "left": left,
                                   "budget": state["budget"]["simulations"], "reused": bool(e.get("reused")),
                                   "unit": "evaluations" if task["design"].get("layer") == "program" else
                                   "simulations"})
        messages.append(ToolMessage(content=res.text, tool_call_id=tc["id"], name=tc["name"],
                                    status="error" if res.error else "success"))
    update: GliaState = {"researcher_messages": messages, "ledger": entries,
                         "phase": "analyse" if entries else "experiment"}
    if best:
        update["best"] = best
    return update


def finalize_context(state: GliaState, runtime: Runtime[GliaContext]) -> GliaState:
    """Write the context's transcript; report its outcome to the run."""
    ws = Path(state["workspace"])
    lines = [json.dumps({"agent": role, **m}, default=str) + "\n" for role in ROLES if ROLES[role].keeps_messages
             for m in messages_to_dict(state.get(f"{role}_messages", []))]
    write_inside(ws, "transcript.jsonl", "".join(lines).encode())  # whatever the shell left at that name is replaced
    ledger = own_ledger(state)
    mine = [b for b in [state.get("best")] if b and b.get("context") == state["context_id"]]
    outcome: ContextOutcome = {"id": state["context_id"], "workspace": str(ws),
                               "simulations_used": len(charged_entries(ledger)),
               "stop_reason": state.get("stop_reason") or "finished", "best": mine[0] if mine else None,
               "implementations": state.get("implementations", {}), "summary": state.get("summary", "")}
    runtime.stream_writer({"event": "context_end", "context": state["context_id"], "outcome": outcome})
    return {"contexts": [outcome]}


def heldout_designs(state: GliaState) -> dict[str, str]:
    """What the held-out evaluation re-measures: the best design's snapshot and each baseline that ran, by name ->
    what the simulator loads (a built-in's name, a baseline file's path)."""
    best = state.get("best")
    designs = {b["policy"]: b.get("spec", b["policy"]) for b in state.get("baselines", []) if not b.get("error")}
    return {"best": best["snapshot"], **designs} if best and Path(best["snapshot"]).is_file() else designs


def collect(state: GliaState, runtime: Runtime[GliaContext]) -> GliaState:
    """The run's outputs: the best design file, its re-measurement (and the baselines') on held-out seeds and on the
    shifted workload, the Markdown report, the full transcript. The best design delivered, re-measured and shown is
    the snapshot that was measured, checked against its SHA-256; the held-out figures of a policy file are measured
    the hardened way (the policy in a process of its own, holding nothing but what it is sent)."""
    run_dir = Path(state["run_dir"])
    best = state.get("best")
    designs = heldout_designs(state)
    hashes: dict[str, str] = {}
    if best:
        try:
            code = best_code(best)
        except SnapshotChanged as exc:
            runtime.stream_writer({"event": "error", "message": f"the best design is not delivered: {exc}"})
            state = {**state, "best": {**best, "undelivered": str(exc)}}
            designs.pop("best", None)
        else:
            _deliver(run_dir, f"best_{Path(state['task']['design']['file']).name}", code)
            hashes["best"] = best["sha256"]
    heldout = {}
    if is_program(state["task"]) and runtime.context.evaluation.heldout:
        evaluator = task_evaluator(state, runtime.context)
        runtime.stream_writer({"event": "heldout", "designs": ["best", "starter"] if state.get("best") else
                               ["starter"], "variants": list(evaluator.spec.variants)})
        heldout = program_harness.heldout(state, evaluator, lambda design, part, fig: runtime.stream_writer(
            {"event": "heldout_figure", "design": design, "part": part, "figure": fig}))
    elif runtime.context.evaluation.heldout:  # a comparison re-measures every method's design itself
        evaluator = task_evaluator(state, runtime.context)
        runtime.stream_writer({"event": "heldout", "designs": list(designs), "seeds": len(plan(state["task"])["seeds"]),
                               "timeout_s": evaluator.timeout_s,
                               "cpu_s": evaluator.cpu.seconds if evaluator.cpu else None})
        heldout = measure_heldout(evaluator, state["task"], designs, state["thread_id"], lambda design, part, fig:
                                  runtime.stream_writer({"event": "heldout_figure", "design": design, "part": part,
                                                         "figure": fig}), hashes=hashes)
    out: list[str] = []
    for c in sorted(state.get("contexts", []), key=lambda c: c["id"]):
        try:
            text = read_inside(Path(c["workspace"]), "transcript.jsonl", MAX_TRANSCRIPT).decode(errors="replace")
        except WorkspaceError:
            continue
        for line in text.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                out.append(json.dumps({"context": c["id"], **entry}) + "\n")
    _deliver(run_dir, "transcript.jsonl", "".join(out).encode())
    reasons = "; ".join(sorted({c["stop_reason"] for c in state.get("contexts", [])})) or "finished"
    write_report({**state, "stop_reason": reasons, "heldout": heldout}, run_dir / "report.md")
    return {"stop_reason": reasons, "heldout": heldout}


MAX_TRANSCRIPT = 256 << 20


def _deliver(run_dir: Path, name: str, data: bytes) -> None:
    """Write one of the run's outputs (the run directory is the harness's own; still, no link is followed)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    write_inside(run_dir, name, data)
