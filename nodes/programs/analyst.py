"""The Analyst's diagnostics for a program task, derived from what the evaluator reported (``tools/programs/
telemetry.py``): each metric of an experiment against the starter (the mean of its repeated runs) and against the
best experiment so far; whether the evaluator found the program invalid and why; the worst cases of each per-case
table (the rows where the program does worst, by the table's score-like or cost-like column). Every finding keeps
its SQL, so the LLM analyst can start from it and query the rest."""

from __future__ import annotations

import re

from glia.simulator.harness.telemetry import reading
from glia.state import Finding

HIGHER_BETTER = re.compile(r"score|ratio|hit|gain|accuracy|speedup|throughput|util|reward|correct|valid", re.I)
LOWER_BETTER = re.compile(r"cost|time|jct|latency|wait|miss|error|slowdown|loss|regret|penalty|delay|_s$", re.I)
WORST_ROWS = 3
TIMING = re.compile(r"(^|_)(eval_)?time|_s$|seconds|duration", re.I)  # noisy: a change is not a finding


def _metrics(con, run_ids: list[str]) -> dict[str, float]:
    if not run_ids:
        return {}
    marks = ", ".join("?" * len(run_ids))
    return dict(con.execute(f"SELECT metric, avg(value) FROM program_metrics WHERE run_id IN ({marks}) GROUP BY 1",
                            run_ids).fetchall())


def _pct(a: float | None, b: float | None) -> str:
    if a is None or b is None:
        return "-"
    if b == 0:
        return f"{a - b:+.4g}"
    return f"{100 * (a / b - 1):+.1f} %"


def program_diagnose(db, run_id: str, task: dict, experiment: str, best_run: str | None = None) -> list[Finding]:
    """The findings of one experiment (``run_id``: its evaluation key in the telemetry)."""
    metric = task["objective"]["metric"]
    maximize = task["objective"]["goal"] == "maximize"
    out: list[Finding] = []

    def add(topic: str, flagged: bool, text: str, value: float | None, sql: str, figures: list[float]):
        out.append({"id": f"{experiment}:{topic}", "experiment": experiment, "topic": topic, "flagged": bool(flagged),
                    "text": text, "value": value, "sql": " ".join(sql.split()), "figures": figures})

    with reading(db) as con:
        try:
            run = con.execute("SELECT status, failure_message, valid FROM program_runs WHERE run_id = ?",
                              [run_id]).fetchone()
        except Exception:
            return []
        if run is None:
            return []
        mine = _metrics(con, [run_id])
        starter_ids = [r for (r,) in con.execute("SELECT run_id FROM program_runs WHERE context = 'baselines' AND "
                                                 "status = 'ok' AND run_id LIKE ? ", [_benchmark_pattern(run_id)])
                       .fetchall()]
        starter = _metrics(con, starter_ids)
        best = _metrics(con, [best_run]) if best_run and best_run != run_id else {}
        tables = con.execute("SELECT name, table_name, rows FROM program_tables WHERE run_id = ? ORDER BY name",
                             [run_id]).fetchall()
        worst = {}
        for _name, table, _rows in tables:
            cols = con.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? "
                               "AND table_schema = 'main' ORDER BY ordinal_position", [table]).fetchall()
            numeric = [c for c, t in cols if t == "DOUBLE"]
            key = next((c for c in numeric if c == metric.lower()), None) or \
                next((c for c in numeric if HIGHER_BETTER.search(c)), None) or \
                next((c for c in numeric if LOWER_BETTER.search(c)), None)
            if key is None:
                continue
            low_is_bad = bool(key == metric.lower() and maximize or HIGHER_BETTER.search(key))
            shown = [c for c, _ in cols if c != "run_id"][:7]
            sql = (f'SELECT {", ".join(chr(34) + c + chr(34) for c in shown)} FROM "{table}" WHERE run_id = ? '
                   f'AND "{key}" IS NOT NULL ORDER BY "{key}" {"ASC" if low_is_bad else "DESC"} LIMIT {WORST_ROWS}')
            rows = con.execute(sql, [run_id]).fetchall()
            name_col = next((c for c, t in cols if t == "VARCHAR" and c != "run_id"), None)
            before = {}
            if rows and name_col and starter_ids:  # the same cases under the starter
                marks = ", ".join("?" * len(starter_ids))
                before = dict(con.execute(f'SELECT "{name_col}", avg("{key}") FROM "{table}" WHERE run_id IN '
                                          f'({marks}) GROUP BY 1', starter_ids).fetchall())
            if rows:
                worst[table] = (key, low_is_bad, shown, rows, sql, name_col, before)
    value = mine.get(metric)
    s, b = starter.get(metric), best.get(metric)
    figures = [x for x in (value, s, b) if x is not None]
    sql = "SELECT metric, value FROM program_metrics WHERE run_id = ?"
    if run[0] == "invalid" or run[2] is False:
        add("validity", True, f"the evaluator found the program INVALID: {run[1]}", value, sql, figures)
    behind = s is not None and value is not None and (value < s if maximize else value > s)
    text = (f"{metric} {value:.6g}" if value is not None else f"{metric} not reported") + \
        (f", {_pct(value, s)} against the starter's {s:.6g}" if s is not None else "") + \
        (f", {_pct(value, b)} against the best so far ({b:.6g})" if b is not None else "")
    add("objective", behind, text + (" - behind the starter" if behind else ""), value, sql, figures)
    others = [k for k in mine if k != metric][:10]
    if others:
        parts = [f"{k} {mine[k]:.4g} (starter {starter[k]:.4g}" + (f", best {best[k]:.4g}" if k in best else "")
                 + ")" if k in starter else f"{k} {mine[k]:.4g}" for k in others]
        changed = [k for k in others if k in starter and not TIMING.search(k)
                   and abs(mine[k] - starter[k]) > 0.01 * max(abs(starter[k]), 1e-9)]
        add("metrics", bool(changed), "other metrics: " + "; ".join(parts), None, sql,
            [x for k in others for x in (mine[k], starter.get(k)) if x is not None])
    for table, (key, low_is_bad, shown, rows, tsql, name_col, before) in worst.items():
        cases = "; ".join(", ".join(f"{c}={_cell(v)}" for c, v in zip(shown, r, strict=False))
                          + _starter_case(dict(zip(shown, r, strict=False)).get(name_col), key, before)
                          for r in rows)
        add(f"cases:{table}", True, f"worst cases in {table} by {key} ({'lowest' if low_is_bad else 'highest'} "
            f"first): {cases}", None, tsql.replace("?", f"'{run_id}'"),
            [float(v) for r in rows for v in r if isinstance(v, (int, float))])
    return out


def _starter_case(name, key: str, before: dict) -> str:
    return f" (starter: {key}={_cell(before[name])})" if name in before else ""


def _cell(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    s = str(v)
    return s if len(s) <= 40 else s[:39] + "…"


def _benchmark_pattern(run_id: str) -> str:
    """Starter runs of the same benchmark: keys ``prog-STARTER-BENCHMARK-starter-N`` (the benchmark's identity is the
    key's third part)."""
    parts = run_id.split("-")
    bench = parts[2] if len(parts) >= 3 and parts[0] == "prog" else ""
    return f"prog-%-{bench}-starter-%"
