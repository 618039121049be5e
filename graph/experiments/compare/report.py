"""A comparison's figures: the summary (per method: the best design's objective on the search seeds, on held-out
seeds and on the shifted workload, mean and 90 % CI over runs; curves; MCG-Par4 and MCG-Seq; cost), the Markdown
report and the PNG plot of the best design so far against simulations (matplotlib, an optional extra)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

from glia.graph.experiments.compare import curves
from glia.graph.experiments.compare.names import METHODS
from glia.simulator.metrics import fmt
from glia.tools import heldout
from glia.tools.evaluator import feasible_row
from glia.tools.ledger import charged

MCG_CONTEXTS = 4
NAMES = {name: method.title for name, method in METHODS.items()}


def _scores(rows: list[dict]) -> list[float]:
    """A unit's charged evaluations as scores in charge order (inf: failed, infeasible, or still running: never
    best); the unchanged starter answered by its baseline measurement (not charged) counts from the first on."""
    scores = [r["score"] if feasible_row(r) else math.inf for r in charged(rows)]
    free = [r["score"] for r in rows if r.get("status") == "baseline" and feasible_row(r)]
    if scores and free:
        scores[0] = min(scores[0], *free)
    return scores


def _timed(rows: list[dict], started: float) -> list[tuple[float, float]]:
    return [((r["finished_at"] or r["charged_at"]) - started, s)
            for r, s in zip(charged(rows), _scores(rows), strict=True)]


def _as_values(points: list[dict] | None, sign: float) -> list[dict] | None:
    """Score-space points (minimised) as the objective's values (a maximised objective's CI flips)."""
    if points is None:
        return None
    out = []
    for p in points:
        lo, hi = sign * p["low"], sign * p["high"]
        out.append({**p, "mean": sign * p["mean"], "low": min(lo, hi), "high": max(lo, hi)})
    return out


def _stat(values: list[float | None], sign: float, deterministic: bool = False) -> dict:
    """Mean and 90 % CI over runs; a deterministic method's runs are one run repeated: its figure, no CI."""
    mean, lo, hi, n = curves.mean_ci([sign * v if v is not None else math.inf for v in values])
    low, high = sorted((sign * lo, sign * hi))
    if deterministic:
        return {"mean": sign * mean, "low": None, "high": None, "n": min(n, 1), "of": 1, "deterministic": True}
    return {"mean": sign * mean, "low": low, "high": high, "n": n, "of": len(values)}


def deterministic(rows: list[list[dict]]) -> bool:
    """Whether repeated runs are one run: every run evaluated the same programs in the same order with the same
    results (the heuristic researcher; a model at temperature 0 may be too)."""
    runs = [[(r.get("program") or r.get("code_hash"), r["score"]) for r in unit] for unit in rows]
    return len(runs) > 1 and all(r == runs[0] for r in runs[1:])


def _winner_heldout(units: list[dict], sign: float) -> dict:
    """The held-out and shifted figures of the design with the best search score among ``units``."""
    done = [u for u in units if u.get("best")]
    if not done:
        return {}
    top = min(done, key=lambda u: u["best"]["score"])
    held = top.get("heldout") or {}
    return {"unit": top["unit"], "search": top["best"]["value"],
            "heldout": (held.get("heldout") or {}).get("value"), "shifted": (held.get("shifted") or {}).get("value")}


def mcg(units: list[dict], runs: list[list[float]], budget: int, sign: float, same: bool) -> dict:
    """MCG-Par4 and MCG-Seq of one Glia method's single-context runs, on the search seeds (curves) and, for their
    final designs, re-measured on the held-out seeds and the shifted workload: Par4 averages, over every 4-subset,
    the held-out figure of the subset's winner; Seq's final winner is the best of all runs."""
    par = _as_values(curves.mcg_par(runs, budget, MCG_CONTEXTS), sign)
    seq = _as_values(curves.mcg_seq(runs), sign)
    subsets = list(itertools.combinations(range(len(units)), MCG_CONTEXTS)) if len(units) >= MCG_CONTEXTS else []
    winners = [_winner_heldout([units[i] for i in s], sign) for s in subsets]
    overall = _winner_heldout(units, sign)
    note = "deterministic: every run is the same run, so several contexts find nothing more" if same else None
    return {
        "par4": {"curve": par, "final": par[-1] if par else None, "sims": MCG_CONTEXTS * budget,
                 "heldout": _stat([w.get("heldout") for w in winners], sign) if winners else None,
                 "shifted": _stat([w.get("shifted") for w in winners], sign) if winners else None,
                 "note": (note if par else f"needs at least {MCG_CONTEXTS} runs, has {len(runs)}")},
        "seq": {"curve": seq, "at_budget": seq[budget - 1] if seq and len(seq) >= budget else None,
                "final": seq[-1] if seq else None, "sims": len(seq) if seq else 0,
                "heldout": overall.get("heldout") if seq else None, "shifted": overall.get("shifted") if seq else None,
                "winner": overall.get("unit"), "note": note if seq else "needs at least 2 runs"}}


def summarise(config, task: dict, results: list[dict], rows: dict[str, list[dict]], baselines: dict,
              heldout_baselines: dict, timeout_s: float, cpu=None) -> dict:
    sign = 1.0 if task["objective"]["goal"] == "minimize" else -1.0
    budget = config.budget
    out: dict = {"task": task["name"], "metric": task["objective"]["metric"], "goal": task["objective"]["goal"],
                 "program": task["design"].get("layer") == "program", "budget": budget, "runs": config.runs,
                 "timeout_s": timeout_s,
                 "cpu_budget": {"seconds": cpu.seconds, "basis": cpu.basis} if cpu else None,
                 "model": config.model.model if config.model else None, "executor": config.executor,
                 "baselines": {}, "methods": {}, "mcg": {}}
    for policy, b in baselines.items():
        held = heldout_baselines.get(policy, {})
        out["baselines"][policy] = {"value": b.get("value"), "ci90": b.get("mean_e2e_ci90"), "error": b.get("error"),
                                    "heldout": (held.get("heldout") or {}).get("value"),
                                    "shifted": (held.get("shifted") or {}).get("value")}
    for method in config.methods:
        mine = [r for r in results if r["method"] == method]
        if not mine:
            continue
        runs = [_scores(rows[r["unit"]]) for r in mine]
        same = deterministic([rows[r["unit"]] for r in mine])
        best = [(r["best"] or {}).get("value") for r in mine]
        held = [((r.get("heldout") or {}).get("heldout") or {}).get("value") for r in mine]
        shifted = [((r.get("heldout") or {}).get("shifted") or {}).get("value") for r in mine]
        out["methods"][method] = {
            "name": NAMES.get(method, method), "runs": len(mine), "deterministic": same,
            "sims_used": sum(r["sims_used"] for r in mine) / len(mine),
            "errors": sum(r["errors"] for r in mine) / len(mine),
            "search": _stat(best, sign, same), "heldout": _stat(held, sign, same),
            "shifted": _stat(shifted, sign, same),
            "curve": _as_values(curves.curve(runs, budget), sign),
            "wall_s": sum(r["wall_s"] for r in mine) / len(mine), "sim_s": sum(r["sim_s"] for r in mine) / len(mine),
            "tokens": sum(r["tokens"] for r in mine) / len(mine), "calls": sum(r["calls"] for r in mine) / len(mine),
            "usd": sum(r["usd"] for r in mine) / len(mine),
            "units": [{k: r.get(k) for k in ("unit", "status", "message", "sims_used", "errors", "best", "heldout",
                                             "wall_s", "sim_s", "tokens", "thread", "rejected")} for r in mine]}
    for method in ("glia", "offline"):  # Glia's multi-context figures, from its single-context runs
        units = [r for r in results if r["method"] == method]
        if not units:
            continue
        runs = [_scores(rows[r["unit"]]) for r in units]
        out["mcg"][method] = {**mcg(units, runs, budget, sign, out["methods"][method]["deterministic"]),
                              "name": NAMES.get(method, method),
                              "seq_time": _as_values(curves.mcg_seq_time(
                                  [_timed(rows[r["unit"]], rows[r["unit"]][0]["charged_at"])
                                   for r in units if rows[r["unit"]]]), sign)}
    return out


def _ci(s: dict | None) -> str:
    if not s or s.get("n", 1) == 0 or s.get("mean") is None or not math.isfinite(s["mean"]):
        return "-"
    if s.get("deterministic"):
        return f"{fmt(s['mean'])} (deterministic: one distinct run)"
    out = f"{fmt(s['mean'])} [{fmt(s['low'])}, {fmt(s['high'])}]"
    return out + (f" ({s['n']} of {s['of']} runs)" if s.get("n") is not None and s["n"] < s["of"] else "")


def _vs(s: dict, ref: float | None) -> str:
    if not ref or not math.isfinite(s.get("mean", math.nan)):
        return "-"
    return f"{100 * (s['mean'] / ref - 1):+.1f} %"


def _glia_roles(config) -> str:
    """What Glia's runs were given, where the user chose (``--impl``, ``--endpoint``): a Glia with an offline
    analyst is not the Glia of a run with every role on the model, and the reader must know which it was."""
    impl, endpoint = getattr(config, "glia_impl", None) or {}, getattr(config, "endpoint", None) or []
    if "glia" not in config.methods or not (impl or endpoint):
        return ""
    roles = ", ".join(f"{r}={impl.get(r, 'llm')}" for r in ("researcher", "analyst", "supervisor", "summarizer"))
    return (f"Glia's roles: {roles}" + (f"; endpoint modes {', '.join(endpoint)}" if endpoint else "") + ". ")


def write_report(config, task: dict, summary: dict, status: str, message: str) -> Path:
    metric, goal = summary["metric"], summary["goal"]
    ref_name, ref = next(((p, b) for p, b in summary["baselines"].items() if not b.get("error")), (None, {}))
    program = task["design"].get("layer") == "program"
    png = _plot(config, summary, "evaluations" if program else "simulations")
    held = {"seeds": []} if program else heldout.plan(task)
    shifted = "" if program else heldout.shifted_workload(task["benchmark"]["workload"], held["shifted"])[0]
    clock = task["budget"]["wall_clock_s"]
    runs = (f"{config.runs} run(s) per method, "
            + (f"each within {clock:g} s of wall clock. " if math.isfinite(clock) else "with no wall-clock limit. ")
            + f"Model: {summary['model'] or 'none'}. Executor: {config.executor}. " + _glia_roles(config))
    lines = [f"# Comparison {config.compare_id}: task `{task['name']}`", "",
             (_program_objective(task, summary, config.budget) + runs +
              f"Timeout per evaluation: {summary['timeout_s']:g} s of wall time (the evaluator and the program "
              "together).") if program else
             f"Objective: {goal} `{metric}` on `{task['benchmark']['workload']}` over seeds "
             f"{task['benchmark']['seeds']} (the search seeds). Budget: {config.budget} simulations per run, " + runs
             + (f"CPU budget per seed of a candidate: {summary['cpu_budget']['seconds']:g} s "
                f"({summary['cpu_budget']['basis']}), enforced by the kernel, with a wall-clock cap of "
                f"{summary['timeout_s']:g} s." if summary.get("cpu_budget") else
                f"Timeout per seed: {summary['timeout_s']:g} s of wall time."), ""]
    if status != "finished":
        ran = ", ".join(f"{m['name']} {m['runs']} of {config.runs}" for m in summary["methods"].values())
        lines += [f"> **Incomplete** (runs finished: {ran or 'none'}): {message}", ""]
    where = ((f"by the evaluator's variants {_variants(task)}" if task["evaluator"]["variants"]
              else "nowhere: **there is no held-out check** (the task gives no held-out variant of its evaluator)")
             if program else f"on {len(held['seeds'])} held-out seeds ({held['seeds'][0]}-{held['seeds'][-1]}) and "
             f"on `{shifted}`")
    lines += ["## Results", "",
              "The best design of each run (the best score in its ledger), as measured during the search, then "
              f"re-measured {where}; mean and 90 % CI over runs.", "",
              ("| method | runs | evaluations used | search | held-out variant | shifted variant | held-out vs "
               if program else
               "| method | runs | simulations used | search seeds | held-out seeds | shifted workload | held-out vs ")
              + f"{ref_name or 'baseline'} | errors per run |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for m in summary["methods"].values():
        lines.append(f"| {m['name']} | {m['runs']} | {m['sims_used']:.1f} | {_ci(m['search'])} | {_ci(m['heldout'])} "
                     f"| {_ci(m['shifted'])} | {_vs(m['heldout'], ref.get('heldout'))} | {m['errors']:.1f} |")
    for g in (summary.get("mcg") or {}).values():
        par, seq = g["par4"], g["seq"]
        label = g["name"]
        if par["final"] and not par["note"]:
            lines.append(f"| {label} MCG-Par4 | - | {par['sims']} | {_ci(par['final'])} | {_ci(par['heldout'])} | "
                         f"{_ci(par['shifted'])} | {_vs(par['heldout'] or {}, ref.get('heldout'))} | - |")
        else:
            lines.append(f"| {label} MCG-Par4 | - | - | {par['note']} | - | - | - | - |")
        if seq["final"] and not seq["note"]:
            lines.append(f"| {label} MCG-Seq (at {config.budget} / all {seq['sims']}) | - | {seq['sims']} | "
                         f"{_ci(seq['at_budget']) if seq['at_budget'] else '-'} / {_ci(seq['final'])} | "
                         f"{fmt(seq['heldout'])} | {fmt(seq['shifted'])} | "
                         f"{_vs({'mean': seq['heldout'] or math.nan}, ref.get('heldout'))} | - |")
        else:
            lines.append(f"| {label} MCG-Seq | - | - | {seq['note']} | - | - | - | - |")
    for name, b in summary["baselines"].items():
        lines.append(f"| baseline {name} | - | - | {fmt(b['value'])} | {fmt(b['heldout'])} | {fmt(b['shifted'])} "
                     "| - | - |")
    noun = "evaluations" if program else "simulations"
    lines += ["", f"## Best design so far against {noun}", ""]
    lines += [f"![curves]({png.name})", ""] if png else [
        "(no plot: matplotlib is not installed; `pip install 'glia[plots]'`)", ""]
    header = " | ".join(m["name"] for m in summary["methods"].values())
    lines += [f"| {noun} | {header} |", "| ---: |" + " ---: |" * len(summary["methods"])]
    for k in range(config.budget):
        cells = [_ci(m["curve"][k] | {"of": m["curve"][k]["runs"], "n": m["curve"][k]["valid_runs"],
                                      "deterministic": m.get("deterministic", False)})
                 for m in summary["methods"].values()]
        lines.append(f"| {k + 1} | " + " | ".join(cells) + " |")
    lines += ["", "## Cost per run (means)", "", f"| method | wall clock (s) | {noun[:-1]} time (s) | model calls | "
              "tokens | USD |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for m in summary["methods"].values():
        lines.append(f"| {m['name']} | {m['wall_s']:.0f} | {m['sim_s']:.0f} | {m['calls']:.0f} | {m['tokens']:.0f} | "
                     f"{m['usd']:.4f} |")
    lines += ["", "## Runs", "", f"| run | status | {noun} | errors | best (search) | hardened | held-out | "
              "shifted | wall clock (s) | tokens |",
              "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |"]
    for m in summary["methods"].values():
        for u in m["units"]:
            held = u.get("heldout") or {}
            check = ((u.get("best") or {}).get("hardened") or "-").replace("hardened re-measurement ", "")
            if u.get("rejected"):
                check = f"{u['rejected']['value']:.3g} rejected: {u['rejected']['check'][:120]}"
            lines.append(f"| {u['unit']} | {u['status']} | {u['sims_used']} | {u['errors']} | "
                         f"{fmt((u['best'] or {}).get('value'))} | {check} | "
                         f"{fmt((held.get('heldout') or {}).get('value'))} | "
                         f"{fmt((held.get('shifted') or {}).get('value'))} | {u['wall_s']:.0f} | {u['tokens']} |")
    lines += ["", "## Definitions", ""] + (_PROGRAM_DEFINITIONS if program else _DEFINITIONS) + [""]
    path = config.dir / "report.md"
    path.write_text("\n".join(lines))
    return path


_DEFINITIONS = [
    "- Best so far at k simulations: the best objective among a run's first k evaluations; failed or "
    "infeasible candidates are never best; a run that stopped early keeps its best.",
    "- MCG-Par4: every 4-subset of the single-context Glia runs, the best of the subset, averaged over "
    "subsets; on the curve, the point at 4k simulations uses the first k of each run. Held out: the mean "
    "over subsets of the held-out figure of each subset's winner.",
    "- MCG-Seq: the Glia runs concatenated in every order (each as long as it ran, in simulations and in "
    "time), the running best of the concatenation, averaged over orders. Held out: its final winner (the "
    "best of all runs) re-measured.",
    "- Deterministic: a method whose runs evaluated the same programs with the same results is one run "
    "repeated; it is shown as that run's figure, \"deterministic: one distinct run\", with no CI.",
    "- Hardened: each run's best design re-measured with its policies in a process of their own; a best "
    "whose figures it does not reproduce is rejected (no best for that run).",
    "- Held-out: the best design of a run re-measured on seeds the search never saw, and on the task's "
    "workload with its load shifted; not charged to the budget."]
_PROGRAM_DEFINITIONS = [
    "- An evaluation: one run of the task's evaluator on one program, in a fresh copy of its working directory; "
    "the budget counts evaluations (a program evaluated before is not charged again).",
    "- Best so far at k evaluations: the best objective among a run's first k evaluations; a program that failed "
    "or broke the task's validity constraint is never best; a run that stopped early keeps its best.",
    "- Baseline starter: the task's starting program, evaluated several times; the spread of its objective is the "
    "noise band, and a gain inside it is not a gain.",
    "- Deterministic: a method whose runs evaluated the same programs with the same results is one run repeated; "
    "it is shown as that run's figure, \"deterministic: one distinct run\", with no CI.",
    "- MCG-Par4 and MCG-Seq: as for simulator tasks, with evaluations in place of simulations: every 4-subset of "
    "the single-context Glia runs (the best of the subset, averaged over subsets), and the runs concatenated in "
    "every order (the running best, averaged over orders); their held-out figures are the winners' held-out figures.",
    "- Hardened: each run's best program evaluated again in a fresh copy of the working directory; a best whose "
    "objective differs from the one measured by more than the starter's noise band, or that is invalid there, is "
    "rejected (no best for that run).",
    "- Held-out and shifted: the best program of a run evaluated by the evaluator's held-out and shifted variants "
    "(the arguments or environment the task gives in [evaluator.heldout] and [evaluator.shifted]); where the task "
    "gives none, there is no held-out check. Not charged to the budget."]


def _variants(task: dict) -> str:
    """The evaluator's variants as the task sets them, e.g. ``heldout (`--split heldout`), shifted (...)``."""
    out = []
    for name, v in sorted(task["evaluator"]["variants"].items()):
        how = [" ".join(v.get("args") or [])] + [f"{k}={x}" for k, x in (v.get("env") or {}).items()] + [
            f"{k}={x!r}" for k, x in (v.get("kwargs") or {}).items()]
        how = [h for h in how if h]
        out.append(f"{name} (`{'`, `'.join(how)}`)" if how else name)
    return ", ".join(out)


def _program_objective(task: dict, summary: dict, budget: int) -> str:
    """A program task's objective and budget in its own terms: the evaluator judges, the budget is evaluations."""
    ev = task["evaluator"]
    entry = ev.get("entry") or " ".join(ev.get("command") or [])
    con = task["objective"].get("constraint") or {}
    bound = (f">= {con['min']:g}" if con.get("min") is not None else f"<= {con['max']:g}") if con.get("metric") else ""
    valid = f", valid only with `{con['metric']}` {bound}" if bound else ""
    return (f"Objective: {summary['goal']} `{summary['metric']}` as the {ev['format']} evaluator `{entry}` reports "
            f"it on its own cases (the search){valid}. Budget: {budget} evaluations per run, ")


def _plot(config, summary: dict, noun: str = "simulations") -> Path | None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    for m in summary["methods"].values():
        pts = [p for p in m["curve"] if p["valid_runs"] and math.isfinite(p["mean"])]
        if not pts:
            continue
        xs = [p["sims"] for p in pts]
        line, = ax.plot(xs, [p["mean"] for p in pts], drawstyle="steps-post", marker=".",
                        label=f"{m['name']} ({m['runs']} runs)")
        ax.fill_between(xs, [p["low"] for p in pts], [p["high"] for p in pts], color=line.get_color(), alpha=0.15,
                        step="post")
    for g in (summary.get("mcg") or {}).values():
        for key, label in (("par4", "MCG-Par4"), ("seq", "MCG-Seq")):
            pts = [p for p in (g.get(key) or {}).get("curve") or [] if p["valid_runs"] and math.isfinite(p["mean"])]
            if pts and not g[key].get("note"):
                ax.plot([p["sims"] for p in pts], [p["mean"] for p in pts], linestyle="--", drawstyle="steps-post",
                        label=f"{g['name']} {label}")
    for name, b in summary["baselines"].items():
        if b.get("value") is not None:
            ax.axhline(b["value"], color="grey", linewidth=0.8, linestyle=":")
            ax.annotate(name, (0.99, b["value"]), xycoords=("axes fraction", "data"), ha="right", va="bottom",
                        fontsize=8, color="grey")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel(f"{noun} used")
    ax.set_ylabel(f"best {summary['metric']} so far ({summary['goal']})")
    ax.set_title(f"{summary['task']}: best design so far, mean and 90 % CI over runs")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    path = config.dir / "curves.png"
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
