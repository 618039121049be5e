"""A comparison: methods x repeated runs x a budget of simulations on one task, resumable like a run.

Layout: ``WORKSPACE/compares/ID/`` with ``compare.json`` (the configuration, so a resumed comparison is the same
one), ``ledger.sqlite`` (every evaluation of every unit, charged once), ``units/METHOD-rN/`` (each unit's files and
``result.json`` once it finished), and at the end ``report.md``, ``curves.png``, ``curves_time.png`` and
``results.json``. The telemetry database gets every simulation (as runs do) and the tables ``compare_units`` and
``compare_evaluations``.

Order: the task's baselines first (they set the evaluator's timeout and the libraries' reference), then run 1 of
every method, run 2 of every method, ... so that an interrupted comparison has something of each method. A
finished unit is never run again; a paused one continues (``methods.run_unit``); a model endpoint that stays down
pauses the comparison there.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from glia.graph.config import DEFAULT_WORKSPACE, ChatFactory, Paths
from glia.graph.experiments.compare import methods
from glia.graph.experiments.compare.names import METHODS
from glia.graph.experiments.compare.report import summarise, write_report
from glia.nodes.common import evaluator_for
from glia.nodes.llm.modes import parse_overrides
from glia.nodes.programs import harness as program_harness
from glia.nodes.registry import choose_implementations
from glia.simulator.harness.telemetry import append_rows
from glia.simulator.metrics import jsonable
from glia.state import AgentSettings, EvaluationSettings, ModelSpec, load_task
from glia.tools.evaluator import Evaluator, feasible_row
from glia.tools.executors import make_executor
from glia.tools.heldout import measure_heldout
from glia.tools.ledger import BudgetLedger, charged
from glia.tools.simulation import confirm_hardened, describe_check

UNITS_TABLE = """CREATE TABLE IF NOT EXISTS compare_units (
    compare_id VARCHAR, unit VARCHAR, method VARCHAR, run INTEGER, status VARCHAR, budget INTEGER,
    sims_used INTEGER, best_value DOUBLE, best_key VARCHAR, heldout_value DOUBLE, shifted_value DOUBLE,
    wall_s DOUBLE, sim_s DOUBLE, tokens BIGINT, calls BIGINT, usd DOUBLE)"""
EVALUATIONS_TABLE = """CREATE TABLE IF NOT EXISTS compare_evaluations (
    compare_id VARCHAR, unit VARCHAR, method VARCHAR, run INTEGER, seq INTEGER, key VARCHAR, status VARCHAR,
    value DOUBLE, score DOUBLE, best_value DOUBLE, error_kind VARCHAR, seconds DOUBLE, tokens BIGINT,
    feasible BOOLEAN, violation DOUBLE);
ALTER TABLE compare_evaluations ADD COLUMN IF NOT EXISTS feasible BOOLEAN;
ALTER TABLE compare_evaluations ADD COLUMN IF NOT EXISTS violation DOUBLE"""


@dataclass
class CompareConfig:
    compare_id: str
    task: str
    methods: list[str]
    runs: int
    budget: int
    workspace: Path
    model: ModelSpec | None = None
    executor: str = "local"
    ray_address: str | None = None
    heldout: bool = True
    wall_clock_s: float | None = None    # per run (default: the task's budget)
    settings: AgentSettings = field(default_factory=AgentSettings)
    created_at: str = ""
    glia_impl: dict = field(default_factory=dict)   # Glia's roles: role -> implementation (--impl; default llm)
    endpoint: list = field(default_factory=list)    # Glia's roles: ROLE.KEY=VALUE mode overrides (--endpoint)

    @classmethod
    def build(cls, task: str = "routing", *, methods_: list[str] | None = None, runs: int = 3, budget: int = 10,
              model: str | None = None, base_url: str | None = None, workspace: str | Path = DEFAULT_WORKSPACE,
              compare_id: str | None = None, executor: str = "local", ray_address: str | None = None,
              heldout: bool = True, wall_clock_s: float | None = None,
              settings: dict | None = None, glia_impl: dict | None = None,
              endpoint: list[str] | tuple[str, ...] = ()) -> CompareConfig:
        chosen = list(methods_ or (["glia", "best_shot", "openevolve", "offline"] if model else ["offline"]))
        for m in chosen:
            methods.check_available(m)
        needing = sorted({m for m in chosen if METHODS[m].needs_model})
        if needing and not model:
            raise ValueError(f"method(s) {', '.join(needing)} need a model: pass --model or set GLIA_MODEL")
        if runs < 1 or budget < 1:
            raise ValueError("--runs and --budget-sims must be >= 1")
        loaded = load_task(task)
        if {"eoh", "funsearch"} & set(chosen):  # the function they evolve, or why there is none
            methods.function_template(loaded)
        if executor not in ("local", "ray"):
            raise ValueError(f"unknown executor {executor!r}; one of local, ray")
        choose_implementations(dict(glia_impl or {}))   # an unknown role or implementation: its error, now
        parse_overrides(endpoint, loaded.get("endpoint"))
        if executor == "ray" and loaded["design"].get("layer") == "program":  # before anything is shipped
            from glia.tools.executors import check_shippable
            from glia.tools.programs import spec_for_task
            check_shippable(spec_for_task(loaded))
        return cls(compare_id=compare_id or datetime.now(UTC).strftime("cmp-%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:4],
                   task=task, methods=chosen, runs=runs, budget=budget, workspace=Path(workspace).resolve(),
                   model=ModelSpec(model, base_url) if model else None, executor=executor, ray_address=ray_address,
                   heldout=heldout, wall_clock_s=wall_clock_s, settings=AgentSettings.from_dict(settings),
                   created_at=datetime.now(UTC).isoformat(timespec="seconds"), glia_impl=dict(glia_impl or {}),
                   endpoint=list(endpoint))

    @property
    def dir(self) -> Path:
        return self.workspace / "compares" / self.compare_id

    def to_json(self) -> dict:
        return {"compare_id": self.compare_id, "task": self.task, "methods": self.methods, "runs": self.runs,
                "budget": self.budget, "model": asdict(self.model) if self.model else None,
                "executor": self.executor, "ray_address": self.ray_address, "heldout": self.heldout,
                "wall_clock_s": self.wall_clock_s,
                "settings": asdict(self.settings), "created_at": self.created_at, "glia_impl": self.glia_impl,
                "endpoint": self.endpoint}

    @classmethod
    def load(cls, compare_id: str, workspace: str | Path = DEFAULT_WORKSPACE) -> CompareConfig:
        path = Path(workspace).resolve() / "compares" / compare_id / "compare.json"
        if not path.is_file():
            raise ValueError(f"no comparison {compare_id} in {Path(workspace).resolve()}")
        d = json.loads(path.read_text())
        return cls(compare_id=d["compare_id"], task=d["task"], methods=d["methods"], runs=d["runs"],
                   budget=d["budget"], workspace=Path(workspace).resolve(),
                   model=ModelSpec(**d["model"]) if d.get("model") else None, executor=d.get("executor", "local"),
                   ray_address=d.get("ray_address"), heldout=d.get("heldout", True),
                   wall_clock_s=d.get("wall_clock_s"),
                   settings=AgentSettings.from_dict(d.get("settings")), created_at=d.get("created_at", ""),
                   glia_impl=d.get("glia_impl") or {}, endpoint=d.get("endpoint") or [])


@dataclass
class CompareOutcome:
    compare_id: str
    status: str          # finished | paused | partial (a report of the runs that finished)
    message: str
    dir: Path
    summary: dict

    def to_json(self) -> dict:
        report = self.dir / "report.md"
        return jsonable({"compare_id": self.compare_id, "status": self.status, "message": self.message,
                         "report": str(report) if report.exists() else None, **self.summary})


def start_compare(config: CompareConfig, on_event: Callable[[dict], None] | None = None,
                  factory: ChatFactory | None = None) -> CompareOutcome:
    if (config.dir / "compare.json").exists():
        raise ValueError(f"comparison {config.compare_id} exists; resume it with `glia compare --resume "
                         f"{config.compare_id}`")
    config.dir.mkdir(parents=True, exist_ok=True)
    (config.dir / "compare.json").write_text(json.dumps(config.to_json(), indent=2))
    return _execute(config, on_event or (lambda e: None), factory)


def resume_compare(compare_id: str, workspace: str | Path = DEFAULT_WORKSPACE,
                   on_event: Callable[[dict], None] | None = None, factory: ChatFactory | None = None,
                   report_only: bool = False) -> CompareOutcome:
    """Continue a comparison; with ``report_only``, write its report from the runs that finished, running nothing
    more than the baselines' held-out re-measurement."""
    return _execute(CompareConfig.load(compare_id, workspace), on_event or (lambda e: None), factory, report_only)


def _execute(config: CompareConfig, on_event: Callable[[dict], None], factory: ChatFactory | None,
             report_only: bool = False) -> CompareOutcome:
    task = load_task(config.task)
    if config.wall_clock_s:
        task["budget"]["wall_clock_s"] = config.wall_clock_s
    paths = Paths(config.workspace)
    ledger = BudgetLedger(config.dir / "ledger.sqlite")
    evaluator = evaluator_for(task, paths.db, make_executor(config.executor, config.ray_address))
    _same_benchmark(config, evaluator.benchmark_key())
    baselines = {}
    if task["design"].get("layer") == "program":  # the starter, measured several times (its noise band)
        starter = task["design"]["starter_source"]
        baselines["starter"] = evaluator.measure_starter(starter, f"{evaluator.key(starter)}")
        on_event({"event": "baseline", "policy": "starter", "value": baselines["starter"].get("value"),
                  "error": baselines["starter"].get("error")})
    for policy in task["benchmark"]["baselines"]:  # CACHE: by COMPARE-baseline-NAME and (program, benchmark)
        baselines[policy] = evaluator.measure(policy, f"{config.compare_id}-baseline-{policy}", context="baselines")
        on_event({"event": "baseline", "policy": policy, "value": baselines[policy].get("value"),
                  "error": baselines[policy].get("error")})
    evaluator.calibrate(baselines.values())
    cpu = getattr(evaluator, "cpu", None)  # None: no CPU budget (a program task), only the wall-clock timeout
    on_event({"event": "timeout", "seconds": evaluator.timeout_s, "cpu_s": cpu.seconds if cpu else None,
              "basis": cpu.basis if cpu else "", "program": task["design"].get("layer") == "program"})
    first = next(iter(baselines.values()), {})
    shared = methods.Shared(config.compare_id, config.task, task, config.workspace, evaluator, ledger,
                            first.get("value") if not first.get("error") else None, config.model, factory,
                            config.settings, EvaluationSettings(config.executor, config.ray_address),
                            on_event, baselines, config.glia_impl, config.endpoint)
    status, message = "finished", ""
    for run in range(1, config.runs + 1):
        for method in config.methods:
            unit = methods.Unit(method, run, config.budget, config.dir / "units" / f"{method}-r{run}")
            if _result(unit) is not None:
                continue
            if report_only:
                status, message = "partial", (f"the report covers the runs that finished; `glia compare --resume "
                                              f"{config.compare_id}` runs the others")
                continue
            on_event({"event": "unit_start", "unit": unit.key, "budget": unit.budget,
                      "used": ledger.used(unit.key) if ledger.unit(unit.key) else 0})
            started = time.monotonic()
            outcome = methods.run_unit(shared, unit)
            _add_wall(unit, time.monotonic() - started)
            if outcome["status"] != "finished":
                status, message = "paused", (f"{unit.key}: {outcome['message']}; `glia compare --resume "
                                             f"{config.compare_id}` continues")
                on_event({"event": "paused", "unit": unit.key, "message": outcome["message"]})
                break
            _finish_unit(config, task, evaluator, ledger, unit, outcome)
            on_event({"event": "unit_end", "unit": unit.key, **_result(unit)["best_brief"]})
        if status == "paused":
            break
    heldout_baselines = {}
    if status != "paused" and config.heldout:
        on_event({"event": "heldout", "what": "baselines"})
        heldout_baselines = (program_harness.measure_variants(evaluator, {"starter": task["design"]["starter_source"]})
                             if "starter" in baselines else
                             measure_heldout(evaluator, task, {p: p for p in baselines}, f"{config.compare_id}"))
    results = [r for r in (_result(methods.Unit(m, i, config.budget, config.dir / "units" / f"{m}-r{i}"))
                           for i in range(1, config.runs + 1) for m in config.methods) if r is not None]
    summary = summarise(config, task, results, {u["unit"]: ledger.rows(u["unit"]) for u in results}, baselines,
                        heldout_baselines, evaluator.timeout_s, cpu)
    (config.dir / "results.json").write_text(json.dumps(jsonable(summary), indent=1, default=str))
    write_report(config, task, summary, status, message)
    _store(paths.db, config, results, ledger)
    return CompareOutcome(config.compare_id, status, message, config.dir, summary)


def _same_benchmark(config: CompareConfig, benchmark: str) -> None:
    """A comparison is of one benchmark: its identity is kept in ``compare.json`` when it starts, and a resume on
    another (the task file edited, another simulator) is refused rather than mixing the two in one table."""
    path = config.dir / "compare.json"
    meta = json.loads(path.read_text()) if path.is_file() else {}
    if meta.get("benchmark") is None:
        path.write_text(json.dumps({**meta, "benchmark": benchmark}, indent=2))
    elif meta["benchmark"] != benchmark:
        raise ValueError(f"comparison {config.compare_id} was started on another benchmark ({meta['benchmark']}; "
                         f"now {benchmark}: the task's workload, seeds or fixed policies, or the simulator, changed); "
                         "its finished runs would not compare with new ones: start a new comparison")


def _result(unit: methods.Unit) -> dict | None:
    # CACHE: a comparison's finished units (units/METHOD-rN/result.json), within one comparison, whose benchmark
    # identity compare.json keeps (_same_benchmark)
    path = unit.dir / "result.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _add_wall(unit: methods.Unit, seconds: float) -> None:
    path = unit.dir / "wall_s"
    before = float(path.read_text()) if path.is_file() else 0.0
    path.write_text(f"{before + seconds:.3f}")


def _finish_unit(config: CompareConfig, task: dict, evaluator: Evaluator, ledger: BudgetLedger,
                 unit: methods.Unit, outcome: dict) -> None:
    """The unit's result: its best design (the best score in its ledger), re-measured on held-out seeds and on
    the shifted workload, and its cost."""
    rows = ledger.rows(unit.key)
    ok = [r for r in rows if feasible_row(r)]  # a design that breaks the task's constraint is never the best
    best = min(ok, key=lambda r: r["score"]) if ok else None
    hardened, rejected = None, None
    if best and best.get("snapshot"):
        # the winner re-measured with its policies in a process of their own, as a run's best is: a design whose
        # figures the re-measurement does not reproduce is not the unit's best
        code = Path(best["snapshot"]).read_bytes() if Path(best["snapshot"]).is_file() else b""
        sha = hashlib.sha256(code).hexdigest()  # the ledger keeps its first 16 digits, taken when it was measured
        entry = {"frozen": best["snapshot"], "snapshot": "", "metrics": best["metrics"],
                 "sha256": sha if sha[:16] == best["code_hash"] else "changed"}
        hardened = (program_harness.confirm(entry, evaluator)[0] if task["design"].get("layer") == "program"
                    else confirm_hardened(Path("/"), entry, evaluator))  # a program: in a fresh copy
        if not hardened["agree"]:
            rejected, best = {"key": best["key"], "value": best["value"], "check": describe_check(hardened)}, None
    heldout = {}
    if best and config.heldout and best.get("snapshot"):  # by code: a design several runs found is measured once
        design = f"code-{best['code_hash']}"
        if task["design"].get("layer") == "program":
            heldout = program_harness.measure_variants(evaluator, {design: Path(best["snapshot"]).read_text(
                errors="replace")}).get(design, {})
        else:
            heldout = measure_heldout(evaluator, task, {design: best["snapshot"]}, config.compare_id).get(design, {})
    u = ledger.unit(unit.key) or {}
    result = {"unit": unit.key, "method": unit.method, "run": unit.run, "status": outcome["status"],
              "message": outcome.get("message", ""), "thread": outcome.get("thread"), "budget": unit.budget,
              "sims_used": len(charged(rows)), "errors": sum(1 for r in rows if r["error_kind"]),
              "best": {**{k: best[k] for k in ("key", "seq", "value", "score", "snapshot", "label", "code_hash")},
                       "hardened": describe_check(hardened) if hardened else None} if best else None,
              "rejected": rejected,
              "best_brief": {"value": best["value"] if best else None, "sims_used": len(charged(rows))},
              "heldout": heldout, "wall_s": float((unit.dir / "wall_s").read_text()),
              "sim_s": sum(r["sim_s"] or 0.0 for r in rows), "tokens": u.get("tokens", 0),
              "calls": u.get("calls", 0), "usd": u.get("usd", 0.0)}
    (unit.dir / "result.json").write_text(json.dumps(jsonable(result), indent=1))


def _store(db: Path, config: CompareConfig, results: list[dict], ledger: BudgetLedger) -> None:
    """The comparison's units and evaluations in the telemetry database (replacing this comparison's rows)."""
    units, evals = [], []
    for r in results:
        held = r.get("heldout") or {}
        units.append({"compare_id": config.compare_id, "unit": r["unit"], "method": r["method"], "run": r["run"],
                      "status": r["status"], "budget": r["budget"], "sims_used": r["sims_used"],
                      "best_value": (r["best"] or {}).get("value"), "best_key": (r["best"] or {}).get("key"),
                      "heldout_value": (held.get("heldout") or {}).get("value"),
                      "shifted_value": (held.get("shifted") or {}).get("value"), "wall_s": r["wall_s"],
                      "sim_s": r["sim_s"], "tokens": r["tokens"], "calls": r["calls"], "usd": r["usd"]})
        start = (ledger.unit(r["unit"]) or {}).get("started_at", 0.0)
        best = None
        for row in ledger.rows(r["unit"]):
            if row["value"] is not None and feasible_row(row) and (best is None or row["score"] < best[0]):
                best = (row["score"], row["value"])
            evals.append({"compare_id": config.compare_id, "unit": r["unit"], "method": r["method"], "run": r["run"],
                          "seq": row["seq"], "key": row["key"], "status": row["status"], "value": row["value"],
                          "score": row["score"], "feasible": feasible_row(row),
                          "violation": row.get("violation"), "best_value": best[1] if best else None,
                          "error_kind": row["error_kind"], "seconds": (row["finished_at"] or start) - start,
                          "tokens": row["tokens"]})
    append_rows(db, "compare_units", UNITS_TABLE, units, replace={"compare_id": config.compare_id})
    append_rows(db, "compare_evaluations", EVALUATIONS_TABLE, evals, replace={"compare_id": config.compare_id})
