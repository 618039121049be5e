"""The harness's own nodes, beside the agents: set-up, the baselines, the tools node (which runs the researcher's
tool calls and keeps the ledger), and the finalisation of a context and of the run."""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path

from langchain_core.messages import AIMessage, ToolMessage, messages_to_dict
from langgraph.runtime import Runtime

from glia.state import Baseline, BestDesign, ContextOutcome, GliaContext, GliaState, LedgerEntry, score
from glia.tools.heldout import measure_heldout
from glia.tools.simulation import confirm_hardened, describe_check, run_baseline
from glia.tools.toolkit import execute

from .common import task_evaluator, tool_context
from .progress import own_ledger, sims_left
from .report import write_report


def setup_context(state: GliaState, runtime: Runtime[GliaContext]) -> GliaState:
    """Create the context's workspace and put the starter design in the design file (once)."""
    ws = Path(state["workspace"])
    ws.mkdir(parents=True, exist_ok=True)
    design = ws / state["task"]["design"]["file"]
    if not design.exists():
        design.write_text(state["task"]["design"]["starter_source"] or "")
    runtime.stream_writer({"event": "context_start", "context": state["context_id"]})
    return {"started_at": state.get("started_at") or time.time()}


def measure_baselines(state: GliaState, runtime: Runtime[GliaContext]) -> GliaState:
    """Measure the task's baselines once per run (not counted against the design budget)."""
    task = state["task"]
    done = {b["policy"] for b in state.get("baselines", [])}
    out: list[Baseline] = []
    evaluator = task_evaluator(state, runtime.context)
    for policy in task["benchmark"]["baselines"]:
        if policy in done:
            continue
        b = run_baseline(evaluator, policy, f"{state['thread_id']}-baseline-{policy}")
        b["score"] = score(task, b["metrics"]) if not b.get("error") else math.inf
        out.append(b)
        runtime.stream_writer({"event": "baseline", "policy": policy, "metrics": b["metrics"]})
    return {"baselines": out, "started_at": state.get("started_at") or time.time()}


def run_tools(state: GliaState, runtime: Runtime[GliaContext]) -> GliaState:
    """Run the researcher's tool calls; record simulations in the ledger and the best design."""
    last = next(m for m in reversed(state["researcher_messages"]) if isinstance(m, AIMessage))
    ctx = tool_context(state, runtime.context)
    task = state["task"]
    ledger = own_ledger(state)
    best_score = min((e["score"] for e in ledger), default=math.inf)
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
        if res.experiment is not None:
            left -= 1
            e = res.experiment
            sc = score(task, e["metrics"]) if not e.get("error") else math.inf
            verdict = ("error" if e.get("error") else "improved" if sc < 0.99 * best_score else
                       "worse" if sc > 1.05 * best_score else "no gain")
            entry = {**e, "context": state["context_id"], "seq": seq, "score": sc,
                     "verdict": verdict, "workspace": str(ctx.workspace)}
            if sc < best_score:  # reported best only once a hardened re-measurement agrees
                check = confirm_hardened(ctx.workspace, e, ctx.evaluator)
                entry["hardened"] = check
                res.text += "\n" + describe_check(check)
                if not check["agree"]:
                    sc = math.inf
                    entry.update(score=sc, verdict="error", error={"kind": "hardened_disagrees",
                                                                   "message": describe_check(check)})
                    res.error = True
            entries.append(entry)
            if sc < best_score:
                best_score = sc
                best = {"id": e["id"], "context": state["context_id"], "label": e.get("label", ""), "score": sc,
                        "value": e["metrics"].get(task["objective"]["metric"]), "metrics": e["metrics"],
                        "ci90": e.get("mean_e2e_ci90"), "snapshot": str(ctx.workspace / e["snapshot"]),
                        "hash": e["hash"], "hardened": entry["hardened"]}
            runtime.stream_writer({"event": "experiment", "context": state["context_id"], "id": e["id"],
                                   "label": e.get("label", ""), "metrics": e["metrics"], "error": entry.get("error"),
                                   "verdict": entry["verdict"]})
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
    with open(ws / "transcript.jsonl", "w") as f:
        for role in ("researcher", "analyst", "supervisor"):
            for m in messages_to_dict(state.get(f"{role}_messages", [])):
                f.write(json.dumps({"agent": role, **m}, default=str) + "\n")
    ledger = own_ledger(state)
    mine = [b for b in [state.get("best")] if b and b.get("context") == state["context_id"]]
    outcome: ContextOutcome = {"id": state["context_id"], "workspace": str(ws), "simulations_used": len(ledger),
               "stop_reason": state.get("stop_reason") or "finished", "best": mine[0] if mine else None,
               "implementations": state.get("implementations", {}), "summary": state.get("summary", "")}
    runtime.stream_writer({"event": "context_end", "context": state["context_id"], "outcome": outcome})
    return {"contexts": [outcome]}


def collect(state: GliaState, runtime: Runtime[GliaContext]) -> GliaState:
    """The run's outputs: the best design file, its re-measurement (and the baselines') on held-out seeds and on the
    shifted workload, the Markdown report, the full transcript."""
    run_dir = Path(state["run_dir"])
    best = state.get("best")
    if best and Path(best["snapshot"]).is_file():
        shutil.copyfile(best["snapshot"], run_dir / f"best_{Path(state['task']['design']['file']).name}")
    designs = {b["policy"]: b["policy"] for b in state.get("baselines", []) if not b.get("error")}
    if best and Path(best["snapshot"]).is_file():
        designs = {"best": best["snapshot"], **designs}
    heldout = {}
    if runtime.context.evaluation.get("heldout", True):  # a comparison re-measures every method's design itself
        runtime.stream_writer({"event": "heldout", "designs": list(designs)})
        heldout = measure_heldout(task_evaluator(state, runtime.context), state["task"], designs, state["thread_id"])
    with open(run_dir / "transcript.jsonl", "w") as out:
        for c in sorted(state.get("contexts", []), key=lambda c: c["id"]):
            t = Path(c["workspace"]) / "transcript.jsonl"
            if t.is_file():
                for line in t.read_text().splitlines():
                    out.write(json.dumps({"context": c["id"], **json.loads(line)}) + "\n")
    reasons = "; ".join(sorted({c["stop_reason"] for c in state.get("contexts", [])})) or "finished"
    write_report({**state, "stop_reason": reasons, "heldout": heldout}, run_dir / "report.md")
    return {"stop_reason": reasons, "heldout": heldout}
