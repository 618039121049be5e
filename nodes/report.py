"""The run's Markdown report: the design, the reasoning that led to it, the experiments, the baselines, the cost."""

from __future__ import annotations

import time
from pathlib import Path

from glia.simulator import confine
from glia.simulator.metrics import KEY_METRICS, fmt
from glia.state import GliaState
from glia.tools.simulation import describe_check

from .claims import known_figures, mark_unsupported


def _ci(ci) -> str:
    return f"[{fmt(ci[0])}, {fmt(ci[1])}]" if ci else "-"


def _heldout(state: GliaState, metric: str) -> list[str]:
    """The best design and the baselines re-measured where the search never looked."""
    held = state.get("heldout") or {}
    if not held:
        return []
    first = next(iter(held.values()))
    seeds, shifted = first["heldout"].get("seeds") or [], first["shifted"].get("workload", "shifted workload")
    search = {"best": (state.get("best") or {}).get("value"),
              **{b["policy"]: b["metrics"].get(metric) for b in state.get("baselines", [])}}
    lines = ["", "## Held-out evaluation", "",
             f"The search chose its best design on the task's seeds, which biases its figure there; here it is "
             f"re-measured on {len(seeds)} seeds the search never saw ({seeds[0]}-{seeds[-1]}) and on `{shifted}`.",
             "", f"| design | {metric} on the search seeds | held-out seeds | 90 % CI | shifted workload | 90 % CI |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, h in held.items():
        cells = []
        for part in ("heldout", "shifted"):
            m = h[part]
            cells += ([f"error {m['error']['kind']}", "-"] if m.get("error") else
                      [fmt(m.get("value")), _ci(m.get("ci90"))])
        label = "**best design**" if name == "best" else f"{name} (baseline)"
        lines.append(f"| {label} | {fmt(search.get(name))} | " + " | ".join(cells) + " |")
    return lines


def write_report(state: GliaState, path: Path) -> str:
    task = state["task"]
    metric = task["objective"]["metric"]
    best = state.get("best")
    ledger = sorted(state.get("ledger", []), key=lambda e: (e["context"], e["seq"]))
    contexts = sorted(state.get("contexts", []), key=lambda c: c["id"])
    impls: dict[str, set[str]] = {}
    for c in contexts:
        for role, name in c.get("implementations", {}).items():
            impls.setdefault(role, set()).add(name)
    lines = [f"# Glia run {state.get('thread_id', '')}: task `{task['name']}`", ""]
    lines += [f"Objective: {task['objective']['goal']} `{metric}` on `{task['benchmark']['workload']}` over seeds "
              f"{task['benchmark']['seeds']}.", ""]
    lines.append("Implementations that ran: " + ", ".join(f"{r}: {'/'.join(sorted(n))}" for r, n in impls.items()))
    lines += ["", f"Model-written code (candidate policies, shell commands) ran confined; {confine.describe()}."
              if confine.available().confined("policy") else f"> **{confine.describe()}**"]
    if any("offline" in n for r, n in impls.items() if r == "researcher"):
        lines.append("")
        lines.append("> The researcher was the **heuristic (offline, rule-driven) researcher**: no language model "
                     "was used for it. Its hypotheses come from fixed rules applied to the analyst's findings.")
    for fact, value in sorted((state.get("facts") or {}).items()):
        lines.append(f"- {fact}: {value}")
    lines.append("")
    base = {b["policy"]: b for b in state.get("baselines", [])}
    llq = base.get("llq")
    lines.append("## The design")
    if best:
        change = ""
        if llq and llq["metrics"].get(metric):
            change = f" ({100 * (best['value'] / llq['metrics'][metric] - 1):+.1f} % against llq)"
        lines += ["", f"Best: experiment `{best['id']}` — {best.get('label', '')}", "",
                  f"`{metric}` = **{fmt(best['value'])}** (90 % CI {_ci(best.get('ci90'))}){change}.", "",
                  *([f"Checked: {describe_check(best['hardened'])} (the policy in a process of its own, driven over "
                     "a pipe).", ""] if best.get("hardened") else []),
                  f"File: `best_{Path(task['design']['file']).name}` (sha256 {best['hash']}…)", "", "```python",
                  Path(best["snapshot"]).read_text().rstrip() if Path(best["snapshot"]).is_file() else "(missing)",
                  "```", ""]
    else:
        lines += ["", "No experiment succeeded.", ""]
    lines.append("## Why it works")
    if best and ledger:
        first = next((e for e in ledger if not e.get("error") and e["context"] == best["context"]), None)
        bm = best["metrics"]
        if first:
            lines += ["", "Against the first design measured in its context:", "",
                      "| metric | first design | best design |", "| --- | ---: | ---: |"]
            for m in KEY_METRICS:
                lines.append(f"| {m} | {fmt(first['metrics'].get(m), 3)} | {fmt(bm.get(m), 3)} |")
            lines.append("")
    hyps = state.get("hypotheses", [])
    if hyps:
        lines += ["Hypotheses:", ""]
        for h in sorted(hyps, key=lambda h: h["id"]):
            ev = ", ".join(f"`{x}`" for x in h.get("evidence", [])) or "none yet"
            lines.append(f"- **{h['id']}** [{h['status']}]: {h['statement']}. Source: {h.get('source', '')}. "
                         f"Evidence: {ev}.")
        lines.append("")
    # model-written text is quoted with every result it states that nothing measured marked [unmeasured]
    measured = known_figures(state)
    findings = [f for f in state.get("findings", []) if f.get("flagged")]
    if findings:
        lines += ["Analyst findings (flagged):", ""]
        for f in findings:
            text = mark_unsupported(f["text"], {**measured, "": measured[""] + f.get("figures", [])})
            lines.append(f"- `{f['experiment']}` {f['topic']}: {text}")
        lines.append("")
    ints = state.get("interventions", [])
    if ints:
        lines += ["Supervisor interventions:", ""]
        for i in ints:
            lines.append(f"- after `{i.get('after_experiment')}` ({i['reason']}): **{i['decision']}** — "
                         f"{mark_unsupported(i['text'], measured)}")
        lines.append("")
    lines += ["## Experiments", "", f"| context | id | design | {metric} | 90 % CI | restarts | verdict |",
              "| --- | --- | --- | ---: | ---: | ---: | --- |"]
    for e in ledger:
        if e.get("error"):
            lines.append(f"| {e['context']} | `{e['id']}` | {e.get('label', '')} | error | - | - | "
                         f"{e['error']['kind']}: {e['error']['message'][:120]} |")
        else:
            lines.append(f"| {e['context']} | `{e['id']}` | {e.get('label', '')} | {fmt(e['metrics'].get(metric))} | "
                         f"{_ci(e.get('mean_e2e_ci90'))} | {fmt(e['metrics'].get('restart_fraction'), 3)} | "
                         f"{e.get('verdict', '')} |")
    lines += ["", "## Against the baselines", "", f"| policy | {metric} | 90 % CI | restarts |",
              "| --- | ---: | ---: | ---: |"]
    for name, b in base.items():
        lines.append(f"| {name} (baseline) | {fmt(b['metrics'].get(metric))} | {_ci(b.get('mean_e2e_ci90'))} | "
                     f"{fmt(b['metrics'].get('restart_fraction'), 3)} |")
    if best:
        lines.append(f"| **best design** | **{fmt(best['value'])}** | {_ci(best.get('ci90'))} | "
                     f"{fmt(best['metrics'].get('restart_fraction'), 3)} |")
    lines += _heldout(state, metric)
    usage = state.get("usage", {})
    wall = time.time() - state.get("started_at", time.time())
    lines += ["", "## Cost", "",
              f"- simulations: {len(ledger)} (of {task['budget']['simulations']} budgeted), plus "
              f"{len(base)} baseline run(s) measured by the harness",
              f"- model tokens: {usage.get('tokens', 0)}, USD {usage.get('usd', 0.0):.4f}, calls "
              f"{usage.get('calls', 0)}", f"- wall clock: {wall:.0f} s", f"- stop: {state.get('stop_reason', '')}"]
    r = usage.get("researcher") or {}
    if r.get("replies"):
        lines.append(f"- researcher replies: {r['replies']}; read from text (not native tool calls): "
                     f"{r.get('parsed_from_text', 0)}; sent back with an error: {r.get('repairs', 0)} "
                     f"({100 * (r.get('parsed_from_text', 0) + r.get('repairs', 0)) / r['replies']:.0f} % needed "
                     "parsing or a retry)")
    if r.get("mode_fallbacks"):
        lines.append("- a native tool call of the researcher came back unusable, so it went on in its fallback tool "
                     "mode (see its modes above)")
    fallbacks = {role: u.get("structured_fallbacks") for role, u in usage.items()
                 if isinstance(u, dict) and u.get("structured_fallbacks")}
    if fallbacks:
        lines.append("- structured answers read from plain text: "
                     + ", ".join(f"{role} {n}" for role, n in fallbacks.items()))
    lines.append("")
    text = "\n".join(lines)
    path.write_text(text)
    return text
