"""One evaluator for every method: a candidate policy -> its figures over a task's seeds, charged to a budget.

Glia's researcher (through the ``run_simulation`` tool) and every baseline method (OpenEvolve, EoH, FunSearch, best
shot) evaluate through this, so they see the same benchmark, the same limits and the same accounting:

- the seeds run on an executor (``executors.py``: local processes or Ray), fail-fast: a candidate that fails on one
  seed does not spend the others;
- a candidate's deadline per seed is CPU time, derived from the task's baselines (a multiple of the slowest one's CPU
  seconds per seed, with a floor) and enforced by the kernel in the seed's process, so that it does not move with
  the machine's load and a candidate that loops forever costs seconds, not the default five minutes; a generous
  wall-clock cap stands behind it. Built-in policies (trusted code: the baselines) are never stopped by a derived
  deadline;
- a charged evaluation reserves one simulation in the budget ledger (``ledger.py``) before anything runs, once per
  key; past the cap nothing runs;
- a task's constraint is first-class: each result says whether it is ``feasible`` and by how much it breaks the
  bound (``violation``), and the ledger keeps both, so that an infeasible design is never a best;
- a candidate is a policy of the task's layer (router, batch policy or autoscaler), run with the task's fixed
  policies of the other layers;
- results are recorded in the telemetry database under the evaluation's key (by a background thread, beside what
  comes next: the next simulation, a model call; ``flush`` and every telemetry read wait for it), and an evaluation
  already recorded is read back, not run again (a resumed search never repeats or loses one).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from glia.simulator.config import SimulationConfig
from glia.simulator.harness.runner import DEFAULT_TIMEOUT_S, TRUSTED_WALL_S, derive_budget, run_benchmark, wall_cap
from glia.simulator.harness.sandbox import CpuBudget
from glia.simulator.harness.telemetry import flush, reading
from glia.simulator.metrics import SUMMARY_METRICS
from glia.simulator.policy.loader import is_builtin
from glia.tools.executors import Executor, LocalExecutor
from glia.tools.identity import benchmark_key, digest, policy_identity, program_key
from glia.tools.ledger import BudgetLedger

HARDENED_TIMEOUT_FACTOR = 4  # the hardened mode costs 2-4x a seed in the normal mode (its CPU budget is scaled so)

__all__ = ["Evaluator", "code_key", "feasible_row", "program_key"]

Scorer = Callable[[dict], float]  # metrics -> the objective as a number to minimise (inf: failed)
Judge = Callable[[dict], float]   # metrics -> relative violation of the task's constraint (0: feasible)


def code_key(source: str, benchmark: str) -> str:
    """An evaluation key for a program on a benchmark (``benchmark_key``): the same program on the same benchmark is
    one evaluation, charged once; on another benchmark it is another evaluation."""
    return f"code-{program_key(source)}-{benchmark}"


@dataclass
class Evaluator:
    """A task's benchmark as a function of candidates. ``workload``/``seeds``: the task's; ``scorer``: the task's
    objective (``glia.state.score`` bound to the task, penalised past the constraint); ``db``: the telemetry database
    (None: nothing recorded); ``layer``: the layer a candidate is a policy of, ``fixed``: the task's policies of the
    other layers (None: the preset's); ``judge``: the constraint (``glia.state.violation`` bound to the task).
    ``cpu``: a candidate's CPU budget per seed (``calibrate`` derives it from the baselines; None: none yet, the
    wall-clock ``timeout_s`` alone); ``timeout_s``: the wall-clock cap per seed (behind the CPU budget, when set)."""

    workload: str | SimulationConfig
    seeds: list[int]
    scorer: Scorer
    metric: str = "mean_e2e_s"
    db: Path | None = None
    executor: Executor = field(default_factory=LocalExecutor)
    timeout_s: float = DEFAULT_TIMEOUT_S
    memory_mb: int | None = 4096
    ledger: BudgetLedger | None = None
    unit: str = ""
    layer: str = "router"
    fixed: dict | None = None
    judge: Judge | None = None
    cpu: CpuBudget | None = None

    def stack(self, policy: str) -> dict[str, str | None]:
        """The router, batch policy and autoscaler of a run of ``policy`` (None: the preset's)."""
        stack = {"router": None, "batch": None, "autoscaler": None, **(self.fixed or {}), self.layer: policy}
        if stack["router"] is None:
            raise ValueError(f"a {self.layer} evaluation needs a router: the task must fix one ([stack] router)")
        return stack

    def calibrate(self, measured: Iterable[dict]) -> CpuBudget:
        """Set a candidate's CPU budget per seed, and the wall-clock cap behind it, from measured baselines (results
        of ``measure``: their ``seed_cpu_s``; a baseline measured before CPU was counted, its ``seed_s`` of wall
        time, which is at least its CPU time)."""
        ok = [b for b in measured if not b.get("error")]
        if ok and all(b.get("seed_cpu_s") for b in ok):
            self.cpu = derive_budget(b["seed_cpu_s"] for b in ok)
        else:
            self.cpu = derive_budget((b.get("seed_cpu_s") or b.get("seed_s") or 0.0 for b in ok), wall=True)
        self.timeout_s = wall_cap(self.cpu)
        return self.cpu

    def deadline(self, stack: dict, hardened: bool = False) -> tuple[CpuBudget | None, float]:
        """(the CPU budget per seed, the wall-clock cap) of a run of ``stack``: none derived for built-in policies of
        every layer (trusted code is never stopped by a derived deadline, only by a cap on a simulator bug), the
        hardened mode's scaled by ``HARDENED_TIMEOUT_FACTOR``."""
        if all(is_builtin(stack[layer], layer) for layer in ("router", "batch", "autoscaler")
               if stack[layer] is not None and stack[layer] != "none"):
            return None, max(self.timeout_s, TRUSTED_WALL_S)
        if self.cpu is None:
            return None, self.timeout_s * (HARDENED_TIMEOUT_FACTOR if hardened else 1)
        cpu = self.cpu.scaled(HARDENED_TIMEOUT_FACTOR, "for the hardened mode") if hardened else self.cpu
        return cpu, wall_cap(cpu)

    def identity(self, policy: str, seeds: list[int] | None = None,
                 workload: str | SimulationConfig | None = None) -> dict[str, str | None]:
        """What a measurement of ``policy`` is of: the program (``policy_identity``) and the benchmark
        (``benchmark_key``: the resolved workload, the seeds, the fixed policies of the other layers by content, the
        simulator's version)."""
        return {"program": policy_identity(policy, self.layer),
                "benchmark": self.benchmark_key(seeds, workload)}

    def benchmark_key(self, seeds: list[int] | None = None, workload: str | SimulationConfig | None = None) -> str:
        return benchmark_key(self.workload if workload is None else workload,
                             list(self.seeds if seeds is None else seeds), self.fixed, self.layer)

    def measure(self, policy: str, run_id: str, *, seeds: list[int] | None = None,
                workload: str | SimulationConfig | None = None, context: str = "", hardened: bool = False) -> dict:
        """Run ``policy`` (a built-in name or a file) uncharged, recorded under ``run_id``, or read it back when
        that id holds a measurement of this program on this benchmark. An id holding anything else (another
        program, another benchmark, a record older than identities) is never read as this: the program is run,
        recorded under ``RUN_ID~DIGEST`` (the result's ``id``). ``hardened``: the policies in a process of their own
        (on this machine; slower: the timeout is scaled)."""
        ident = self.identity(policy, seeds, workload)
        # CACHE: the telemetry's runs, by run id, read back only when (program, benchmark) match
        run_id, stored = _lookup(self.db, run_id, ident)
        if stored is not None:
            return self._scored(stored)
        seeds = list(self.seeds if seeds is None else seeds)
        stack = self.stack(policy)
        cpu, wall = self.deadline(stack, hardened)
        res = run_benchmark(stack["router"], self.workload if workload is None else workload, seeds,
                            timeout_s=wall, cpu=cpu, memory_mb=self.memory_mb, telemetry=self.db, context=context,
                            run_id=run_id,
                            executor=None if hardened else self.executor, record_later=True, batch=stack["batch"],
                            autoscaler=stack["autoscaler"], hardened=hardened, fail_fast=hardened,
                            identity=ident)
        ok = [o for o in res.outcomes if not o.error]
        ci = res.metrics.get("mean_e2e_s", {}).get("ci90")
        return self._scored({
            "id": run_id, "workload": res.workload, "seeds": seeds, **ident,
            "metrics": {m: res.metric(m) for m in SUMMARY_METRICS if m in res.metrics},
            "per_seed": {m: res.metrics[m]["per_seed"] for m in (self.metric,) if m in res.metrics},
            "mean_e2e_ci90": list(ci) if ci else None, "ci90": res.cis(), "error": res.error, "wall_s": res.wall_s,
            "sim_s": sum(o.wall_s for o in ok), "seed_s": max((o.wall_s for o in ok), default=0.0),
            "seed_cpu_s": max((o.cpu_s for o in ok), default=None) if all(o.cpu_s for o in ok) else None,
            "cpu_s": sum(o.cpu_s or 0.0 for o in res.outcomes),  # what it cost, failed seeds included
            "seeds_run": sum(1 for o in res.outcomes if (o.error or {}).get("kind") != "skipped"),
            "reused": False, "hardened": hardened, "isolation": res.isolation})

    def flush(self) -> None:
        """Wait until this process's evaluations are written to the telemetry database (they are written in the
        background, beside whatever comes next; every telemetry read waits for them too)."""
        flush()

    def evaluate(self, policy: str, key: str, *, label: str = "", context: str = "") -> dict:
        """A charged evaluation of the policy file ``policy``: one simulation from the ledger (when there is one),
        refused with ``status`` ``budget`` when none is left; ``status`` otherwise ok, error or reused. A key the
        ledger holds for another program or benchmark is not this evaluation: it is charged and run as
        ``KEY~DIGEST``."""
        ident = self.identity(policy)
        charge = None
        if self.ledger is not None:
            # CACHE: the budget ledger, by (unit, key), a repeat read back only when (program, benchmark) match
            held = self.ledger.row(self.unit, key)
            if held is not None and not same_identity(held, ident):
                key = derived_key(key, ident)
            charge = self.ledger.reserve(self.unit, key, label, ident)
            if charge is None:
                return {"id": key, "status": "budget", "error": {"kind": "budget", "message":
                        "the simulation budget is used up"}, "metrics": {}, "score": math.inf, "charged": False}
            if charge.repeat:
                done = self.ledger.row(self.unit, key)
                if done and done["status"] != "running":
                    return _from_row(done)
        started = time.perf_counter()
        try:
            out = self.measure(policy, key, context=context)
        except KeyboardInterrupt:  # stopped by the user: not measured, so not charged (a resume runs it again)
            if charge is not None and not charge.repeat:
                self.ledger.release(self.unit, key)
            raise
        code = Path(policy).read_bytes() if Path(policy).is_file() else policy.encode()
        out.update(status="reused" if out.get("reused") else "error" if out.get("error") else "ok",
                   charged=charge is not None and not charge.repeat, seq=charge.seq if charge else None,
                   wall_s=out.get("wall_s") or time.perf_counter() - started, snapshot=str(Path(policy).resolve()),
                   hash=hashlib.sha256(code).hexdigest()[:16])
        if self.ledger is not None:
            self.ledger.record(self.unit, key, out)
        return out

    def evaluate_source(self, source: str, workdir: Path, *, key: str | None = None, label: str = "",
                        context: str = "") -> dict:
        """A charged evaluation of a program given as text (the libraries' candidates): frozen as
        ``workdir/candidates/KEY.py`` first, so the code that ran is kept beside its result. The key is the
        program's digest on this evaluator's benchmark (``code_key``)."""
        key = key or code_key(source, self.benchmark_key())
        path = Path(workdir) / "candidates" / f"{key}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_text(source)
        return self.evaluate(str(path), key, label=label, context=context)

    def _scored(self, res: dict) -> dict:
        metrics = res.get("metrics") or {}
        res["score"] = math.inf if res.get("error") else self.scorer(metrics)
        res["value"] = metrics.get(self.metric)
        res["violation"] = 0.0 if self.judge is None or res.get("error") else self.judge(metrics)
        res["feasible"] = not res.get("error") and res["violation"] == 0.0
        return res


def same_identity(record: dict, ident: dict) -> bool:
    """Whether a stored record (a ledger row, a telemetry run) is a measurement of this program on this benchmark;
    a record without an identity (written before identities were kept) cannot say so, and is not."""
    return all(record.get(k) is not None and record.get(k) == ident.get(k) for k in ("program", "benchmark"))


def derived_key(key: str, ident: dict) -> str:
    """The key a measurement goes under when ``key`` already holds another one."""
    return f"{key}~{digest(ident)[:8]}"


def _lookup(db: Path | None, run_id: str, ident: dict) -> tuple[str, dict | None]:
    """(the run id a measurement of ``ident`` has or gets, its stored record if it was made)."""
    if db is None:
        return run_id, None
    stored = _stored(db, run_id)
    if stored is None:
        return run_id, None
    if same_identity(stored, ident):
        return run_id, stored
    run_id = derived_key(run_id, ident)
    stored = _stored(db, run_id)
    return run_id, stored if stored is not None and same_identity(stored, ident) else None


def _from_row(row: dict) -> dict:
    err = {"kind": row["error_kind"], "message": row["error_message"]} if row["error_kind"] else None
    return {"id": row["key"], "status": "reused", "charged": False, "seq": row["seq"], "metrics": row["metrics"],
            "score": math.inf if row["score"] is None else row["score"], "value": row["value"], "error": err,
            "wall_s": row["wall_s"], "sim_s": row["sim_s"], "snapshot": row["snapshot"], "hash": row["code_hash"],
            "feasible": feasible_row(row), "violation": row.get("violation") or 0.0, "reused": True,
            "program": row.get("program"), "benchmark": row.get("benchmark")}


def feasible_row(row: dict) -> bool:
    """Whether a ledger row is a valid, feasible design (rows written before constraints were kept: by score)."""
    return row["score"] is not None and row["status"] != "running" and row.get("feasible") in (None, 1, True)


def _stored(db: Path, run_id: str) -> dict | None:
    """An evaluation recorded in the telemetry database, read back (None if it never finished)."""
    flush()  # this process's runs still being written (the file may not even exist before they are)
    if not Path(db).exists():
        return None
    with reading(db) as con:
        row = None
        for identity in ("program, benchmark", "NULL, NULL"):  # a database written before identities were kept
            try:
                row = con.execute("SELECT error_kind, error_message, wall_s, workload, mean_e2e_ci_low, "
                                  f"mean_e2e_ci_high, ci90, {identity} FROM runs WHERE run_id = ?",
                                  [run_id]).fetchone()
                break
            except Exception:  # no such column, or a database with no tables yet
                continue
        if row is None:
            return None
        cols = ", ".join(f"avg({m})" for m in SUMMARY_METRICS)
        agg = con.execute(f"SELECT {cols}, sum(wall_s), max(wall_s) FROM run_seeds WHERE run_id = ? "
                          "AND error_kind IS NULL", [run_id]).fetchone()
        seeds = [s for (s,) in con.execute("SELECT seed FROM run_seeds WHERE run_id = ? ORDER BY seed",
                                           [run_id]).fetchall()]
        ran = con.execute("SELECT count(*) FROM run_seeds WHERE run_id = ? AND (error_kind IS NULL OR "
                          "error_kind <> 'skipped')", [run_id]).fetchone()[0]
    metrics = {m: v for m, v in zip(SUMMARY_METRICS, agg[:len(SUMMARY_METRICS)], strict=True) if v is not None}
    error = {"kind": row[0], "message": row[1]} if row[0] else None
    return {"id": run_id, "workload": row[3], "seeds": seeds, "metrics": metrics, "mean_e2e_ci90": [row[4], row[5]],
            "ci90": json.loads(row[6]) if row[6] else {},
            "error": error, "wall_s": row[2], "sim_s": agg[-2] or 0.0, "seed_s": agg[-1] or 0.0, "seeds_run": ran,
            "reused": True, "program": row[7], "benchmark": row[8]}
