"""A program task's report: the program designed, judged by the user's evaluator; against the starter measured
several times (its noise band); the fresh-copy re-measurement of the best; the held-out variants or the plain
statement that there is none; what the offline researcher did when no model ran; the evaluator's private metrics
(never shown to the researcher)."""

from __future__ import annotations

import time
from pathlib import Path

from glia.nodes.claims import known_figures
from glia.nodes.progress import charged_entries
from glia.nodes.report import finding_lines
from glia.simulator.metrics import fmt
from glia.state import GliaState
from glia.state.tasks.task import constraint_text


def _cell(text: str, limit: int = 140) -> str:
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _change(value, ref) -> str:
    if value is None or not ref:
        return ""
    return f" ({100 * (value / ref - 1):+.1f} % against the starter)"


def _isolation(ledger: list) -> str:
    """What the run's evaluations ran under, as each recorded it (not what the machine printing the report offers)."""
    seen = sorted({e.get("isolation") or "isolation not recorded" for e in ledger})
    if not seen:
        return "No program was evaluated."
    if any("none" in v.split(";")[0] or "UNCONFINED" in v for v in seen):
        return "> **Not every evaluation ran confined: " + "; ".join(f"`{v}`" for v in seen) + "**"
    return "The programs and the evaluator ran confined: " + "; ".join(f"`{v}`" for v in seen) + "."


def write_program_report(state: GliaState, path: Path, delivered) -> str:
    """``delivered(best, task)``: the lines of the best design's file as measured (``report._delivered``)."""
    from glia.nodes.report import implementations
    task = state["task"]
    ev = task["evaluator"]
    metric = task["objective"]["metric"]
    best = state.get("best")
    ledger = sorted(state.get("ledger", []), key=lambda e: (e["context"], e["seq"]))
    impls = implementations(state)
    constraint = constraint_text(task)
    starter = next((b for b in state.get("baselines", []) if b.get("policy") == "starter"), None)
    ref = (starter or {}).get("metrics", {}).get(metric)
    noise = (starter or {}).get("noise", 0.0)
    lines = [f"# Glia run {state.get('thread_id', '')}: program task `{task['name']}`", "",
             f"Objective: {task['objective']['goal']} `{metric}`" + (f" subject to `{constraint}`" if constraint
                                                                      else "")
             + f", as reported by the {ev['format']} evaluator `{ev['entry'] or ' '.join(ev['command'])}` (working "
             f"directory `{ev['workdir']}`, copied fresh for every evaluation; timeout {ev.get('timeout_s') or 'auto'}"
             f" s; isolation `{ev['isolation']}`).", "",
             "Implementations that ran: " + ", ".join(f"{r}: {'/'.join(sorted(n))}" for r, n in impls.items()), "",
             _isolation(ledger)]
    if any("offline" in n for r, n in impls.items() if r == "researcher"):
        from glia.nodes.heuristic.program_constants import constant_names
        tuned = constant_names(task)
        lines += ["", "> The researcher was the **offline program-constants search**: no language model was used, so "
                  "no design idea was tried. All it did was tune the starter's numeric constants"
                  + (f" ({', '.join(f'`{t}`' for t in tuned)})" if tuned else
                     " (the starter has none it could find: none marked `# glia: tune`, none top-level)")
                  + f" by a seeded search (seed {(task.get('offline') or {}).get('seed', 0)}); the program's logic is "
                  "the starter's."]
    for fact, value in sorted((state.get("facts") or {}).items()):
        lines.append(f"- {fact}: {value}")
    lines += ["", "## The design"]
    if best:
        inside = ref is not None and best.get("value") is not None and abs(best["value"] - ref) <= noise
        lines += ["", f"Best: experiment `{best['id']}` — {best.get('label', '')}", "",
                  f"`{metric}` = **{fmt(best['value'], 4)}**{_change(best.get('value'), ref)}; the starter "
                  f"{fmt(ref, 4)} (mean of {starter.get('runs_ok', starter.get('runs', 0)) if starter else 0} runs, "
                  f"noise band {fmt(noise, 3)})."
                  + (" **The difference lies inside the starter's noise band: it is not a measured gain.**"
                     if inside else ""), ""]
        if best.get("hardened"):
            h = best["hardened"]
            lines += ["Checked: re-measured in a fresh copy of the working directory: "
                      + ("agrees" if h.get("agree") else "DISAGREES") + f" ({fmt(h.get('value'), 4)}).", ""]
        if (best.get("private") or {}):
            lines += ["Private metrics (the evaluator's, never shown to the researcher): "
                      + ", ".join(f"{k} {fmt(v, 4)}" for k, v in best["private"].items()), ""]
        lines += delivered(best, task)
    elif any(not e.get("error") for e in ledger):
        lines += ["", "**No valid design**: no experiment succeeded and met "
                  + (f"`{constraint}`" if constraint else "the evaluator's validity check") + ".", ""]
    else:
        lines += ["", "No experiment succeeded.", ""]
    if starter:
        vals = ", ".join(fmt(v, 4) for v in starter.get("values") or [])
        lines += ["## The starter (baseline)", "",
                  f"Measured {starter.get('runs', 0)} times, uncharged, each in a fresh copy: `{metric}` {vals} "
                  f"(noise band {fmt(noise, 3)}: a difference no larger is not called a gain)"
                  + (f"; error {starter['error']['kind']}: {_cell(starter['error']['message'])}"
                     if starter.get("error") else "") + ".", ""]
    measured = known_figures(state)
    findings = [f for f in state.get("findings", []) if f.get("flagged")][-8:]
    if findings:
        lines += ["## Analyst findings (flagged, newest)", "", *finding_lines(findings, measured), ""]
    cm = (task["objective"].get("constraint") or {}).get("metric")
    lines += ["## Experiments", "", f"| context | id | design | {metric} |" + (f" {cm} |" if cm else "")
              + " status | verdict |", "| --- | --- | --- | ---: |" + (" ---: |" if cm else "") + " --- | --- |"]
    for e in ledger:
        m = e.get("metrics") or {}
        if e.get("error"):
            status = f"{e['error']['kind']} ({e['error'].get('who', '?')}): {_cell(e['error']['message'])}"
        elif e.get("valid") is False or not e.get("feasible", True):
            status = f"invalid: {_cell(e.get('invalid_reason') or 'constraint broken')}"
        else:
            status = "ok" + (" (the starter's baseline, read back: not charged)" if e.get("baseline") else
                             " (read back: same program)" if e.get("reused") else "")
        lines.append(f"| {e['context']} | `{e['id']}` | {_cell(e.get('label', ''), 80)} | {fmt(m.get(metric), 4)} |"
                     + (f" {fmt(m.get(cm), 3)} |" if cm else "") + f" {status} | {e.get('verdict', '')} |")
    lines += ["", "## Held-out evaluation", ""]
    held = state.get("heldout") or {}
    if not ev.get("variants"):
        lines += ["**There is no held-out check**: the task gives no `[evaluator.heldout]` or `[evaluator.shifted]` "
                  "variant, so the best design's figure comes from the cases it was chosen on (biased upwards).", ""]
    elif not held:
        lines += ["Not measured (a comparison re-measures every method's design itself, or nothing was designed).",
                  ""]
    else:
        variants = list(ev["variants"])
        lines += ["The best design and the starter re-measured by the evaluator on cases the search never saw "
                  "(uncharged, not in the telemetry the agents query):", "",
                  "| design | " + " | ".join(f"{v} {metric}" for v in variants) + " |",
                  "| --- |" + " ---: |" * len(variants)]
        for name, parts in held.items():
            cells = []
            for v in variants:
                fig = parts.get(v) or {}
                cells.append(f"error {fig['error']['kind']}" if fig.get("error") else
                             fmt(fig.get("value"), 4) + ("" if fig.get("feasible", True) else " (invalid)"))
            lines.append(f"| {'**best design**' if name == 'best' else name} | " + " | ".join(cells) + " |")
        lines.append("")
    usage = state.get("usage", {})
    wall = time.time() - state.get("started_at", time.time())
    lines += ["## Cost", "", f"- evaluations: {len(charged_entries(ledger))} (of {task['budget']['simulations']} "
              "budgeted), plus "
              f"{starter.get('runs', 0) if starter else 0} uncharged runs of the starter",
              f"- model tokens: {usage.get('tokens', 0)}, USD {usage.get('usd', 0.0):.4f}, calls "
              f"{usage.get('calls', 0)}", f"- wall clock: {wall:.0f} s", f"- stop: {state.get('stop_reason', '')}",
              ""]
    text = "\n".join(lines)
    path.write_text(text)
    return text
