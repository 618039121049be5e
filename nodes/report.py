"""The run's Markdown report: the design, the reasoning that led to it, the experiments, the baselines, the cost.
With a constraint, every design and baseline is marked feasible or not, with the amount of its violation; the best
design is always a feasible one."""

from __future__ import annotations

import re
import time
from pathlib import Path

from glia.nodes.claims import known_figures, mark_unsupported
from glia.nodes.design_form import is_functions_file
from glia.nodes.heuristic.spaces import SEEDS, Seed
from glia.simulator.metrics import KEY_METRICS, OVER_SEEDS, fmt
from glia.state import GliaState
from glia.state.tasks.task import constraint_text, layer_of, objective_ci, policy_name
from glia.tools.simulation import SnapshotChanged, best_code, describe_check


def _short_error(message: str) -> str:
    """An error for a table cell: file names without their directories (a workspace path would fill the cell before
    the error itself), no pipes, at most 160 characters."""
    text = re.sub(r"(?:/[^\s/:]+)+/([^\s/:]+\.py)", r"\1", message).replace("|", "\\|")
    return text if len(text) <= 160 else text[:159] + "…"


def _ci(ci) -> str:
    return f"[{fmt(ci[0])}, {fmt(ci[1])}]" if ci else "-"


def _name(spec: str) -> str:
    return Path(spec.partition(":")[0]).name if ".py" in spec else spec


def _feasible(m: dict) -> str:
    """``yes``, or ``no (+x %)``: by how much the constraint broke."""
    if m.get("error"):
        return "no"
    v = m.get("violation", 0.0)
    return "yes" if m.get("feasible", True) else f"no (+{100 * v:.1f} %)" if v != float("inf") else "no"


def _heldout(state: GliaState, metric: str) -> list[str]:
    """The best design and the baselines re-measured where the search never looked (and, under a constraint,
    whether each still meets it there)."""
    held = state.get("heldout") or {}
    if not held:
        return []
    bound = constraint_text(state["task"])
    meets = f" {bound} |" if bound else ""
    first = next(iter(held.values()))
    seeds, shifted = first["heldout"].get("seeds") or [], first["shifted"].get("workload", "shifted workload")
    search = {"best": (state.get("best") or {}).get("value"),
              **{b["policy"]: b["metrics"].get(metric) for b in state.get("baselines", [])}}
    lines = ["", "## Held-out evaluation", "",
             f"The search chose its best design on the task's seeds, which biases its figure there; here it is "
             f"re-measured on {len(seeds)} seeds the search never saw ({seeds[0]}-{seeds[-1]}) and on `{shifted}`.",
             "", f"| design | {metric} on the search seeds | held-out seeds | 90 % CI |{meets} shifted workload | "
             f"90 % CI |{meets}", "| --- | ---: | ---: | ---: |" + " --- |" * bool(bound) + " ---: | ---: |"
             + " --- |" * bool(bound)]
    for name, h in held.items():
        cells = []
        for part in ("heldout", "shifted"):
            m = h[part]
            cells += [f"error {m['error']['kind']}", "-"] if m.get("error") else [fmt(m.get("value")),
                                                                                  _ci(m.get("ci90"))]
            if bound:
                cells.append("-" if m.get("feasible") is None else _feasible(m))
        label = "**best design**" if name == "best" else f"{name} (baseline)"
        lines.append(f"| {label} | {fmt(search.get(name))} | " + " | ".join(cells) + " |")
    return lines


def _change(a: float | None, b: float | None) -> str:
    return f"{100 * (a / b - 1):+.1f} %" if a is not None and b else "-"


def seeded(state: GliaState) -> list[dict]:
    """The known designs the heuristic researcher's space was seeded with (``design_spaces.SEEDS``), each with its
    baseline's figures, the experiments that ran it, and the best design against it on the search seeds, the
    held-out seeds and the shifted workload. Empty when the heuristic researcher did not run."""
    impls = {n for c in state.get("contexts", []) for r, n in c.get("implementations", {}).items()
             if r == "researcher"}
    if not any("offline" in n for n in impls):
        return []
    task = state["task"]
    metric = task["objective"]["metric"]
    seeds: tuple[Seed, ...] = SEEDS.get((task.get("offline") or {}).get("space", "router"), ())
    base = {b["policy"]: b for b in state.get("baselines", [])}
    held = state.get("heldout") or {}
    best = state.get("best")
    out = []
    for s in seeds:
        name = policy_name(s.baseline)
        b = base.get(name)
        ran = [e["id"] for e in state.get("ledger", [])
               if str(e.get("label", "")).split(": ", 1)[-1] == s.design.key() and not e.get("error")]
        h, hb = (held.get(name) or {}), (held.get("best") or {})
        out.append({
            "name": name, "what": s.what, "key": s.design.key(), "experiments": ran,
            "best_is_seed": bool(best) and str(best.get("label", "")).split(": ", 1)[-1] == s.design.key(),
            "search": ((b or {}).get("metrics") or {}).get(metric), "best": (best or {}).get("value"),
            "heldout": (h.get("heldout") or {}).get("value"), "best_heldout": (hb.get("heldout") or {}).get("value"),
            "shifted": (h.get("shifted") or {}).get("value"), "best_shifted": (hb.get("shifted") or {}).get("value")})
    return out


def seeded_line(state: GliaState) -> str | None:
    """One line for ``glia run``: the best design against each seeded design, search and held-out."""
    parts = [f"{s['name']} (seeded): the best design is this design" if s["best_is_seed"] else
             f"{s['name']} (seeded) {_change(s['best'], s['search'])} on the search seeds, "
             f"{_change(s['best_heldout'], s['heldout'])} held out" for s in seeded(state) if s["search"]]
    return ("the heuristic researcher's space holds known designs; its best against them: " + "; ".join(parts)
            if parts else None)


def _seeded(state: GliaState, metric: str) -> list[str]:
    found = seeded(state)
    if not found:
        return []
    lines = ["## What the heuristic researcher started from", "",
             "The heuristic researcher searches a fixed design space whose rules were written with these known "
             "designs in it, so reaching them is not a discovery. Each is one of the task's baselines (*Against the "
             "baselines* below), and the figures here say how far the search went beyond them:", ""]
    for s in found:
        ran = (f" It ran this design as {', '.join(f'`{x}`' for x in s['experiments'])} (the same design key)."
               if s["experiments"] else "")
        lines.append(f"- `{s['name']}`: {s['what']} (design key `{s['key']}`).{ran}")
    lines += ["", f"| best design against | {metric}: seeded design | best | change | held-out: seeded | best | "
              "change | shifted: seeded | best | change |", "| --- |" + " ---: |" * 9]
    for s in found:
        lines.append(f"| `{s['name']}` | {fmt(s['search'])} | {fmt(s['best'])} | {_change(s['best'], s['search'])} | "
                     f"{fmt(s['heldout'])} | {fmt(s['best_heldout'])} | {_change(s['best_heldout'], s['heldout'])} | "
                     f"{fmt(s['shifted'])} | {fmt(s['best_shifted'])} | {_change(s['best_shifted'], s['shifted'])} |")
    if any(s["best_is_seed"] for s in found):
        lines += ["", "The best design **is** a seeded design: the search found nothing beyond it."]
    return [*lines, ""]


def implementations(state: GliaState) -> dict[str, set[str]]:
    """Which implementation of each role ran, over the run's contexts."""
    impls: dict[str, set[str]] = {}
    for c in sorted(state.get("contexts", []), key=lambda c: c["id"]):
        for role, name in c.get("implementations", {}).items():
            impls.setdefault(role, set()).add(name)
    return impls


def finding_lines(findings: list, measured) -> list[str]:
    """The analyst's findings as report lines: the heuristic analyst's are SQL results and stand as they are; a
    model's words are checked, every figure nothing measured marked (``measured``: ``known_figures``)."""
    return [f"- `{f['experiment']}` {f['topic']}: "
            + (f["text"] if f.get("topic") != "llm" else mark_unsupported(
                f["text"], measured.with_extra(f.get("figures", [])), [f["experiment"]])) for f in findings]


def write_report(state: GliaState, path: Path) -> str:
    """The report, section by section (each a function below), written to ``path`` and returned."""
    if state["task"].get("design", {}).get("layer") == "program":  # a program judged by the user's evaluator
        from glia.nodes.programs.report import write_program_report
        return write_program_report(state, path, _delivered)
    ledger = sorted(state.get("ledger", []), key=lambda e: (e["context"], e["seq"]))
    base = {b["policy"]: b for b in state.get("baselines", [])}
    metric = state["task"]["objective"]["metric"]
    lines = [*_header(state, ledger), *_design(state, ledger, base), *_seeded(state, metric), *_why(state, ledger),
             *_experiments(state, ledger), *_baselines(state, base), *_heldout(state, metric),
             *_cost(state, ledger, base)]
    text = "\n".join(lines)
    path.write_text(text)
    return text


def run_isolation(ledger: list) -> tuple[str, bool]:
    """What the run's experiments ran under, as the harness recorded each (``Measurement.isolation``), not what the
    machine printing the report offers: one line, and whether every one of them ran confined. Experiments measured
    before the record was kept (or read back from the telemetry) say ``isolation not recorded``."""
    seen = sorted({e.get("isolation") or "" for e in ledger})
    if not seen:
        return "no experiment ran", True
    parts = ["isolation not recorded" if not v else v if v.startswith("WARNING") else f"isolation: {v}" for v in seen]
    return "; ".join(parts), not any(v.startswith("WARNING") for v in seen)


def _header(state: GliaState, ledger: list) -> list[str]:
    task = state["task"]
    metric = task["objective"]["metric"]
    impls = implementations(state)
    constraint = constraint_text(task)
    layer = layer_of(task)
    lines = [f"# Glia run {state.get('thread_id', '')}: task `{task['name']}`", ""]
    lines += [f"Objective: {task['objective']['goal']} `{metric}`"
              + (f" subject to `{constraint}`" if constraint else "")
              + f" on `{task['benchmark']['workload']}` over seeds {task['benchmark']['seeds']}.", ""]
    if layer != "router" or any(task.get("stack", {}).values()):
        fixed = ", ".join(f"{lay} `{_name(spec)}`" for lay, spec in task.get("stack", {}).items()
                          if spec and lay != layer)
        lines += [f"Designed layer: **{layer}**" + (f"; fixed: {fixed}" if fixed else "") + ".", ""]
    lines.append("Implementations that ran: " + ", ".join(f"{r}: {'/'.join(sorted(n))}" for r, n in impls.items()))
    isolation, confined = run_isolation(ledger)
    lines += ["", f"Model-written code (candidate policies, shell commands) ran confined; {isolation}."
              if confined else f"> **{isolation}**"]
    if any("offline" in n for r, n in impls.items() if r == "researcher"):
        lines.append("")
        lines.append("> The researcher was the **heuristic (offline, rule-driven) researcher**: no language model "
                     "was used for it. Its hypotheses come from fixed rules applied to the analyst's findings, over a "
                     "design space seeded with known designs (below, *What the heuristic researcher started "
                     "from*).")
    for fact, value in sorted((state.get("facts") or {}).items()):
        lines.append(f"- {fact}: {value}")
    lines.append("")
    return lines


def _design(state: GliaState, ledger: list, base: dict) -> list[str]:
    task = state["task"]
    metric = task["objective"]["metric"]
    best = state.get("best")
    constraint = constraint_text(task)
    lines = ["## The design"]
    if best:
        # against every baseline, the known designs among them too (a search seeded with one is judged against it)
        known = {s["name"] for s in seeded(state)}
        against = [f"{100 * (best['value'] / b['metrics'][metric] - 1):+.1f} % against {name}"
                   + (" (a seeded design)" if name in known else "")
                   for name, b in base.items() if b["metrics"].get(metric)]
        change = f" ({', '.join(against)})" if against else ""
        lines += ["", f"Best: experiment `{best['id']}` — {best.get('label', '')}", "",
                  f"`{metric}` = **{fmt(best['value'])}** (90 % CI {_ci(best.get('ci90'))}){change}.", "",
                  *([f"Checked: {describe_check(best['hardened'])} (the policy in a process of its own, driven over "
                     "a pipe).", ""] if best.get("hardened") else []),
                  *_delivered(best, task)]
    elif constraint and any(not e.get("error") for e in ledger):
        closest = min((e for e in ledger if not e.get("error")), key=lambda e: e.get("violation", 0.0))
        lines += ["", f"**No design met the constraint** `{constraint}`: nothing is called best. The closest, "
                      f"`{closest['id']}` ({closest.get('label', '')}), broke it by "
                      f"{100 * closest.get('violation', 0.0):.1f} %.", ""]
    else:
        lines += ["", "No experiment succeeded.", ""]
    return lines


def _why(state: GliaState, ledger: list) -> list[str]:
    task = state["task"]
    metric = task["objective"]["metric"]
    best = state.get("best")
    lines = ["## Why it works"]
    if best and ledger:
        first = next((e for e in ledger if not e.get("error") and e["context"] == best["context"]), None)
        bm = best["metrics"]
        if first:
            lines += ["", "Against the first design measured in its context:", "",
                      "| metric | first design | best design |", "| --- | ---: | ---: |"]
            cm = (task["objective"].get("constraint") or {}).get("metric")
            for m in dict.fromkeys([metric, *([cm] if cm else []), *KEY_METRICS]):
                lines.append(f"| {m} | {fmt(first['metrics'].get(m), 3)} | {fmt(bm.get(m), 3)} |")
            seeds = (task.get("benchmark") or {}).get("seeds") or []
            if len(seeds) > 1:
                lines += ["", f"Over the {len(seeds)} seeds, {OVER_SEEDS} (the analyst's "
                          "diagnostics also give percentiles over the requests of all seeds pooled, said as such)."]
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
        lines += ["Analyst findings (flagged):", "", *finding_lines(findings, measured), ""]
    ints = state.get("interventions", [])
    if ints:
        lines += ["Supervisor interventions:", ""]
        for i in ints:
            lines.append(f"- after `{i.get('after_experiment')}` ({i['reason']}): **{i['decision']}** — "
                         f"{mark_unsupported(i['text'], measured)}")
        lines.append("")
    return lines


def _columns(task: dict) -> tuple[str, str, str | None, str]:
    """The constraint's columns of the experiment and baseline tables (empty without a constraint)."""
    constraint = constraint_text(task)
    cmetric = (task["objective"].get("constraint") or {}).get("metric")
    return (constraint, f" {cmetric} | feasible |" if constraint else "", cmetric,
            " ---: | --- |" if constraint else "")


def _experiments(state: GliaState, ledger: list) -> list[str]:
    task = state["task"]
    metric = task["objective"]["metric"]
    constraint, extra_head, cmetric, extra_rule = _columns(task)
    lines = ["## Experiments", "", f"| context | id | design | {metric} | 90 % CI | restarts |{extra_head} verdict |",
             f"| --- | --- | --- | ---: | ---: | ---: |{extra_rule} --- |"]
    for e in ledger:
        if e.get("error"):
            lines.append(f"| {e['context']} | `{e['id']}` | {e.get('label', '')} | error | - | - |"
                         + (" - | no |" if constraint else "")
                         + f" {e['error']['kind']}: {_short_error(e['error']['message'])} |")
        else:
            lines.append(f"| {e['context']} | `{e['id']}` | {e.get('label', '')} | {fmt(e['metrics'].get(metric))} | "
                         f"{_ci(objective_ci(task, e))} | {fmt(e['metrics'].get('restart_fraction'), 3)} |"
                         + (f" {fmt(e['metrics'].get(cmetric), 3)} | {_feasible(e)} |" if constraint else "")
                         + f" {e.get('verdict', '')} |")
    return lines


def _baselines(state: GliaState, base: dict) -> list[str]:
    task = state["task"]
    metric = task["objective"]["metric"]
    best = state.get("best")
    constraint, extra_head, cmetric, extra_rule = _columns(task)
    lines = ["", "## Against the baselines", "", f"| policy | {metric} | 90 % CI | restarts |{extra_head}",
             f"| --- | ---: | ---: | ---: |{extra_rule}"]
    for name, b in base.items():
        lines.append(f"| {name} (baseline) | {fmt(b['metrics'].get(metric))} | {_ci(objective_ci(task, b))} | "
                     f"{fmt(b['metrics'].get('restart_fraction'), 3)} |"
                     + (f" {fmt(b['metrics'].get(cmetric), 3)} | {_feasible(b)} |" if constraint else ""))
    if best:
        lines.append(f"| **best design** | **{fmt(best['value'])}** | {_ci(best.get('ci90'))} | "
                     f"{fmt(best['metrics'].get('restart_fraction'), 3)} |"
                     + (f" {fmt(best['metrics'].get(cmetric), 3)} | yes |" if constraint else ""))
    return lines


def _cost(state: GliaState, ledger: list, base: dict) -> list[str]:
    task = state["task"]
    usage = state.get("usage", {})
    wall = time.time() - state.get("started_at", time.time())
    lines = ["", "## Cost", "",
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
    return lines


def _delivered(best: dict, task: dict) -> list[str]:
    """The best design's file and code as measured: the frozen snapshot checked against its SHA-256, or why it is
    not delivered."""
    try:
        code = best_code(best).decode(errors="replace")
    except SnapshotChanged as exc:
        return [f"**Not delivered**: {exc}. The figures above belong to code that can no longer be shown.", ""]
    form = (" — in the functions form: small functions called by glia's fixed driver, which the file imports from "
            "`glia.simulator`" if is_functions_file(code) else "")
    return [f"File: `best_{Path(task['design']['file']).name}` (sha256 {best['sha256']}, checked against the "
            f"snapshot that was measured){form}", "", "```python", code.rstrip(), "```", ""]
