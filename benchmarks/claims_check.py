"""How often the "only measured results count" check (``nodes/claims.py``) is wrong, both ways.

Invented claims (numbers no run showed) over ledgers of 1-40 experiments: how many it accepts. Genuine claims (figures
quoted from the ledger, the baselines or a query result shown, rounded, and differences or ratios of figures the
sentence names): how many it flags. Then the recorded frontier-model sessions (``../shared/data/frontier-*-1`` and
``benchmarks/recordings/frontier-*``: each request ``q/NNNN.json`` is what the model was shown, each reply
``a/NNNN.json`` what it wrote) as genuine prose: every number a frontier-class model wrote in its replies, checked
against what its request showed it, as a run's state holds it: the ledger and baselines of its tables, the task's
text, and the code of the designs it wrote so far (with the reply's own new design: its settings are no invention).

    python -m benchmarks.claims_check                          # the check as it is
    python -m benchmarks.claims_check --claims OLD_claims.py   # another version of nodes/claims.py (before/after)
    python -m benchmarks.claims_check --verbose                # and every recorded number it flags

Target (issue 16): invented claims accepted <= 5 % at 20 experiments; genuine numbers flagged <= 5 %.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import os
import random
import re
import sys
import tomllib
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = (1, 2, 5, 10, 20, 40)
DATA = Path(os.environ.get("GLIA_SHARED_DATA", ROOT.parent / "shared" / "data"))  # the first two, beside the repo
# the first two recordings are the workplace's (shared data); the later three are kept in the repository
# (benchmarks/recordings/; their replays, derived from them, are in tests/data/)
RECORDINGS = [DATA / "frontier-routing-1", DATA / "frontier-batch-1",
              *(ROOT / "benchmarks" / "recordings" / name for name in ("frontier-routing-2", "frontier-routing-3",
                                                                      "frontier-batch-2", "frontier-routing-4"))]
BASELINES = {"llq": 49.148, "round_robin": 55.938, "hra": 23.581}


def load_claims(path: str | None):
    if not path:
        from glia.nodes import claims
        return claims
    spec = importlib.util.spec_from_file_location("claims_under_test", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def metrics(rng: random.Random, mean: float | None = None) -> dict:
    m = mean or rng.uniform(20.0, 60.0)
    return {"mean_e2e_s": m, "p50_e2e_s": m * rng.uniform(0.55, 0.7), "p90_e2e_s": m * rng.uniform(1.6, 2.0),
            "p95_e2e_s": m * rng.uniform(2.1, 2.6), "p99_e2e_s": m * rng.uniform(4.0, 6.0),
            "mean_ttft_s": m * rng.uniform(0.2, 0.45), "p90_ttft_s": m * rng.uniform(0.7, 1.1),
            "mean_tpot_s": rng.uniform(0.048, 0.056), "mean_queueing_s": m * rng.uniform(0.15, 0.45),
            "restart_fraction": rng.uniform(0.005, 0.3), "throughput_rps": rng.uniform(7.1, 7.4),
            "gpu_utilisation": rng.uniform(0.9, 0.995), "kv_utilisation": rng.uniform(0.6, 0.95),
            "mean_slowdown": rng.uniform(2.0, 9.0), "p95_slowdown": rng.uniform(6.0, 25.0),
            "gpu_hours": rng.uniform(2.0, 2.4)}


def build(rng: random.Random, n: int) -> tuple[dict, list[str], dict]:
    """A run's state with ``n`` experiments, the texts its researcher was shown (diagnostics and a query table of
    the newest experiments), and what those texts show (for genuine quotes)."""
    task = tomllib.loads((ROOT / "state" / "tasks" / "builtin" / "routing.toml").read_text())
    task["objective"] = {"metric": "mean_e2e_s", "goal": "minimize"}
    ledger = []
    for i in range(1, n + 1):
        m = metrics(rng)
        ci = [m["mean_e2e_s"] * 0.88, m["mean_e2e_s"] * 1.12]
        ledger.append({"id": f"c1-e{i:03d}", "label": "starter" if i == 1 else "Router", "metrics": m,
                       "mean_e2e_ci90": ci, "context": "c1", "seq": i, "score": m["mean_e2e_s"]})
    baselines = [{"policy": p, "metrics": metrics(rng, v), "mean_e2e_ci90": [v * 0.88, v * 1.12]}
                 for p, v in BASELINES.items()]
    texts, table = [], {}
    for e in ledger[-3:]:
        m = e["metrics"]
        texts.append(f"Findings on {e['id']}:\n- restarts: {100 * m['restart_fraction']:.1f} % of requests "
                     f"restarted ({rng.randint(1000, 90000):,} tokens recomputed)\n- queueing: mean "
                     f"{m['mean_queueing_s']:.2f} s, {rng.uniform(40, 70):.0f} % of the mean e2e\n- KV: "
                     f"{100 * m['kv_utilisation']:.0f} % used on average")
        rows = []
        for seed in range(5):
            v = m["mean_e2e_s"] * rng.uniform(0.7, 1.3)
            shown = f"{v:.4g}"
            table[(e["id"], seed)] = shown
            rows.append(f"{e['id']} | {seed} | {shown} | {m['restart_fraction'] * rng.uniform(0.5, 1.5):.4g}")
        texts.append("exp | seed | mean_e2e_s | restart_fraction\n" + "\n".join(rows))
    state = {"task": task, "ledger": ledger, "baselines": baselines,
             "best": min(ledger, key=lambda e: e["score"])}
    return state, texts, table


# invented forms added with issue 17 (they probe what it accepts); shown by form, not in the table by size
SINCE_17 = ("level, approximate", "range, named")


def _pct(x: float, decimals: int) -> str:
    return f"{x:.{decimals}f} %"


def invented(rng: random.Random, state: dict) -> list[tuple[str, str, str]]:
    """(form, sentence, the invented number as written)."""
    ids = [e["id"] for e in state["ledger"]]
    e, b = rng.choice(ids), rng.choice(list(BASELINES))
    n = rng.randint(2, 70)
    n1 = f"{rng.uniform(2, 70):.1f}"
    x = f"{rng.uniform(15, 70):.2f}"
    r = f"{rng.uniform(1.05, 3.0):.1f}"
    k = rng.randint(2, 9)
    return [("cut by N % (no operands)", f"It cut mean latency by {n} %.", f"{n} %"),
            ("cut by N.N % (no operands)", f"The new router reduced latency by {n1} %.", f"{n1} %"),
            ("better by N % (named)", f"{e} is better than {b} by {n} %.", f"{n} %"),
            ("Nx faster (named)", f"{e} is {r}x faster than {b}.", f"{r}x"),
            ("level, named", f"{e} reduced mean latency to {x} s.", x),
            ("level, unnamed", f"Mean latency is now {x} s.", x),
            ("small integer", f"Mean latency dropped to {k} s.", f"{k} s".split()[0]),
            ("share, unnamed", f"Restarts fell to {rng.randint(1, 35)} %.", None),
            # what issue 17 accepts (roundings written as approximate, ranges quoting per-seed figures) is no
            # licence: an invented figure written so is still flagged
            ("level, approximate", f"Mean latency is now about {round(float(x))} s.", f"{round(float(x))}"),
            ("range, named", f"{e} kept mean latency at {n1}-{float(n1) + float(r):.1f} s across seeds.", n1)]


def genuine(rng: random.Random, state: dict, table: dict) -> list[tuple[str, str]]:
    """(form, sentence): every number in the sentence is a figure shown or a change between named ones."""
    ledger = state["ledger"]
    e = rng.choice(ledger)
    base = rng.choice(state["baselines"])
    v, bv = e["metrics"]["mean_e2e_s"], base["metrics"]["mean_e2e_s"]
    d = rng.choice((1, 2, 3))
    out = [("quoted", f"{e['id']} reached a mean latency of {v:.{d}f} s."),
           ("rounded share", f"{e['id']} restarted {100 * e['metrics']['restart_fraction']:.{rng.choice((0, 1))}f} % "
                             "of requests.")]
    lo, hi = sorted((v, bv))
    word = "cut" if v < bv else "raised"
    change = f"{100 * abs(v / bv - 1):.{rng.choice((0, 1))}f}"
    out.append(("change vs baseline", f"{e['id']} {word} mean latency by {change} % against {base['policy']}."))
    out.append(("ratio vs baseline", f"{base['policy']} is {hi / lo:.{rng.choice((1, 2))}f}x the mean latency of "
                                     f"{e['id']}." if v < bv else
                f"{e['id']} is {hi / lo:.{rng.choice((1, 2))}f}x the mean latency of {base['policy']}."))
    out.append(("from/to, named", f"{e['id']} took mean latency from {bv:.2f} s ({base['policy']}) to {v:.2f} s, a "
                                  f"{100 * abs(1 - v / bv):.0f} % change."))
    lv = ledger[-1]["metrics"]["mean_e2e_s"]
    out.append(("from/to, unnamed (the newest)", f"Mean latency went from {bv:.2f} s to {lv:.2f} s, a "
                                                 f"{100 * abs(1 - lv / bv):.0f} % change."))
    if len(ledger) > 1:
        other = rng.choice([x for x in ledger if x is not e])
        ov = other["metrics"]["mean_e2e_s"]
        out.append(("difference of two experiments", f"{e['id']} is {abs(v - ov):.{rng.choice((1, 2))}f} s "
                                                      f"{'faster' if v < ov else 'slower'} than {other['id']}."))
    (exp, seed), shown = rng.choice(list(table.items()))
    out.append(("quoted from a query", f"In seed {seed}, {exp} had a mean e2e of {shown} s."))
    ttft = e["metrics"]["mean_ttft_s"]
    out.append(("small integer", f"{e['id']} brought mean TTFT to {round(ttft)} s." if round(ttft) <= 10 else
                f"{e['id']} brought mean TTFT to {ttft:.1f} s."))
    latest = ledger[-1]
    out.append(("unnamed, latest", f"Mean latency is now {latest['metrics']['mean_e2e_s']:.2f} s."))
    return out


def before(claims, state: dict, texts: list[str]):
    """The figures as the code before issue 16 gave them to the check (``nodes/common.shown_figures`` at f07936a):
    the recorded ones, and each number shown to the agent alone under a key naming every topic (quoted, never
    paired into a change)."""
    figures = claims.known_figures(state)
    every_topic = ",".join(sorted(set(claims.TOPICS.values())))
    shown = [x for t in texts for x in claims.figures_in(t)]
    for i, x in enumerate(dict.fromkeys(shown)):
        figures[f"shown{i}:{every_topic}"] = [x]
    return figures


def synthetic(claims, trials: int, seed: int) -> tuple[dict, dict, dict, dict]:
    rng = random.Random(seed)
    inv, gen = defaultdict(lambda: [0, 0]), defaultdict(lambda: [0, 0])
    inv_form, gen_form = defaultdict(lambda: [0, 0]), defaultdict(lambda: [0, 0])
    new_api = hasattr(claims, "Figure")
    for n in SIZES:
        for _ in range(trials):
            state, texts, table = build(rng, n)
            figures = claims.known_figures(state, texts) if new_api else before(claims, state, texts)
            for form, sentence, number in invented(rng, state):
                if number is None:
                    number = re.search(r"\d+ %", sentence).group(0)
                flagged = claims.unsupported(sentence, figures)
                ok = number.strip() not in [f.strip() for f in flagged]
                if form not in SINCE_17:  # the table by size stays comparable with issue 16's target
                    inv[n][0] += ok
                    inv[n][1] += 1
                inv_form[form][0] += ok
                inv_form[form][1] += 1
            for form, sentence in genuine(rng, state, table):
                bad = bool(claims.unsupported(sentence, figures))
                gen[n][0] += bad
                gen[n][1] += 1
                gen_form[form][0] += bad
                gen_form[form][1] += 1
    return inv, gen, inv_form, gen_form


# -- the recorded sessions -------------------------------------------------------------------------------------------
EXPERIMENT_LINE = re.compile(r"(c\d+-e\d{3})(?: \(([^)]*)\))?: (?:(\S+) -> )?((?:[a-z_0-9]+ -?[\d.]+(?:, )?)+)")
METRIC_PAIR = re.compile(r"([a-z_0-9]+) (-?[\d.]+)")
# "Baselines: llq mean_e2e_s 49.148; ..." (the first recordings) or "Baselines (built-in designs ...): llq (what it
# does) mean_e2e_s 49.148; ..." (since issue 17)
BASELINE_LINE = re.compile(r"Baselines(?: \([^)]*\))?: (.*)")
BASELINE = re.compile(r"([a-z_]+)(?: \((?:[^()]|\([^()]*\))*\))? ([a-z_0-9]+) (-?[\d.]+)")
TASK_TEXT = re.compile(r"^Task [\w-]+: (.*?)(?:\nObjective:|\Z)", re.DOTALL | re.MULTILINE)
FENCED = re.compile(r"```[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)


def _calls(reply: dict) -> list[tuple[str, dict]]:
    """A recorded reply's tool calls: (name, arguments), arguments decoded from JSON (unreadable ones: empty)."""
    out = []
    for call in reply.get("tool_calls") or []:
        args = call.get("arguments") or {}
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except ValueError:
                args = {}
        out.append((call.get("name"), args if isinstance(args, dict) else {}))
    return out


def _code(reply: dict) -> list[str]:
    """The code a reply writes: its Python blocks and the files its calls write (the designs it runs)."""
    out = [body for body in FENCED.findall(reply.get("content") or "")]
    for name, args in _calls(reply):
        if name in ("write_file", "patch_file"):
            out.append(str(args.get("content") or args.get("new") or ""))
    return out


def _prose(reply: dict) -> list[str]:
    """What a reply says in words: its content (JSON answers: their text fields), and a finish call's summary;
    code blocks left out."""
    texts = []
    content = reply.get("content") or ""
    try:
        data = json.loads(content)
    except (ValueError, TypeError):
        data = None
    if isinstance(data, dict):
        for f in data.get("findings") or []:
            texts.append(str(f.get("text", "")) if isinstance(f, dict) else str(f))
        if data.get("message"):
            texts.append(str(data["message"]))
    elif content:
        texts.append(re.sub(r"```.*?(?:```|\Z)", "", content, flags=re.DOTALL))
    for name, args in _calls(reply):
        if name == "finish" and args.get("summary"):
            texts.append(str(args["summary"]))
    return texts


def _state(shown: str) -> dict:
    ledger, baselines = {}, []
    for m in EXPERIMENT_LINE.finditer(shown):
        eid, label, _, pairs = m.groups()
        metrics_ = {("restart_fraction" if k == "restarts" else k): float(v) for k, v in METRIC_PAIR.findall(pairs)
                    if re.fullmatch(r"-?\d+(\.\d+)?", v)}
        ledger.setdefault(eid, {"id": eid, "label": label or "", "metrics": {}})["metrics"].update(metrics_)
    for m in BASELINE_LINE.finditer(shown):
        for name, metric, v in BASELINE.findall(m.group(1)):
            baselines.append({"policy": name, "metrics": {metric: float(v)}})
    task = TASK_TEXT.search(shown)  # the task's own text, as a run's state holds it
    return {"task": {"objective": {"metric": "mean_e2e_s"}, "description": task.group(1) if task else ""},
            "ledger": list(ledger.values()), "baselines": baselines}


def _anywhere(number: str, shown_values: list[float]) -> bool:
    """Whether any number of the texts shown rounds to ``number`` as written (whatever it was a figure of)."""
    raw = number.replace(",", "").rstrip("%x\u00d7 ").strip().replace("\u2212", "-")
    try:
        value = abs(float(raw))
    except ValueError:
        return False
    decimals = len(raw.split(".")[1]) if "." in raw else 0
    return any(abs(abs(v) - value) <= 0.5 * 10 ** -decimals + 1e-9 or abs(100 * abs(v) - value) <= 0.5 * 10 ** -decimals
               for v in shown_values)


def recorded(claims, verbose: bool) -> dict[str, tuple[int, int, int]]:
    out = {}
    new_api = hasattr(claims, "Figure")
    for root in RECORDINGS:
        if not (root / "q").is_dir():
            continue
        total = flagged = quoted = 0
        seen: list[str] = []   # the relayed model saw every request before this one too, as a run's state keeps it
        designs: list[str] = []  # the code it wrote so far: a run's state keeps each experiment's design
        for q in sorted((root / "q").glob("*.json")):
            a = root / "a" / q.name
            if int(q.stem) <= 8 or not a.is_file():  # 1-8: the endpoint probe
                continue
            request, reply = json.loads(q.read_text()), json.loads(a.read_text())
            seen.append("\n".join(str(m.get("content") or "") for m in request.get("messages", [])
                                   if m.get("role") != "assistant"))
            shown = "\n".join(seen)
            state = _state(shown)
            code = [*designs, *_code(reply)]  # its own new design is a setting it may name, as the harness reads it
            if new_api and "designs" in inspect.signature(claims.known_figures).parameters:
                figures = claims.known_figures(state, [shown], code)
            else:
                figures = claims.known_figures(state, [shown]) if new_api else before(claims, state, [shown])
            designs += _code(reply)
            for text in _prose(reply):
                numbers = claims.claims_in(text, figures.owners) if new_api else claims.claims_in(text)
                bad = claims.unsupported(text, figures)
                total += len(numbers)
                flagged += len(bad)
                values = claims.figures_in(shown)
                quoted += sum(1 for b in bad if _anywhere(b, values))
                if verbose and bad:
                    print(f"  {root.name}/{q.stem}: flagged {bad} in: {text[:300]!r}")
        out[root.name] = (flagged, total, quoted)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--claims", default=None, help="a nodes/claims.py to test instead of the installed one")
    p.add_argument("--trials", type=int, default=40, help="ledgers per size (default 40)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--verbose", action="store_true", help="list every recorded number the check flags")
    args = p.parse_args(argv)
    claims = load_claims(args.claims)
    inv, gen, inv_form, gen_form = synthetic(claims, args.trials, args.seed)
    print(f"claims check: {args.claims or 'glia.nodes.claims'} ({args.trials} ledgers per size, seed {args.seed})")
    print()
    print("| experiments | invented claims accepted | genuine claims flagged |")
    print("| ---: | ---: | ---: |")
    for n in SIZES:
        print(f"| {n} | {100 * inv[n][0] / inv[n][1]:.1f} % ({inv[n][0]}/{inv[n][1]}) | "
              f"{100 * gen[n][0] / gen[n][1]:.1f} % ({gen[n][0]}/{gen[n][1]}) |")
    print()
    print("| invented claim (all sizes) | accepted |")
    print("| --- | ---: |")
    for form, (k, t) in inv_form.items():
        print(f"| {form} | {100 * k / t:.1f} % |")
    print()
    print("| genuine claim (all sizes) | flagged |")
    print("| --- | ---: |")
    for form, (k, t) in gen_form.items():
        print(f"| {form} | {100 * k / t:.1f} % |")
    print()
    print("| recorded frontier session (every number the model wrote) | flagged | of which some number shown rounds "
          "to it | the rest (the model's own arithmetic: sums, spans, shares, ratios it did not name) |")
    print("| --- | ---: | ---: | ---: |")
    for name, (k, t, q) in recorded(claims, args.verbose).items():
        print(f"| {name} | {100 * k / max(t, 1):.1f} % ({k}/{t}) | {100 * q / max(t, 1):.1f} % ({q}) | "
              f"{100 * (k - q) / max(t, 1):.1f} % ({k - q}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
