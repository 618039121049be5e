"""The program task's side of the one evaluator (``tools/evaluator.py``): a candidate program -> its evaluation by the
task's evaluator, charged to the same budget ledger, with the same rules as a simulated policy:

- the key of an evaluation is ``prog-PROGRAM-BENCHMARK``: the program's digest (``evaluator.program_key``: the same
  program re-worded in comments is one program) and the benchmark's identity (``EvaluatorSpec.identity``: the
  working directory's files, how the evaluator is run, the variant). The same program on the same benchmark is one
  evaluation, charged once and read back from the telemetry afterwards (a resumed run never repeats one); a changed
  evaluator or test case is another benchmark, so nothing measured on the old one is reused;
- a charged evaluation reserves one evaluation in the ledger before it runs; past the cap nothing runs;
- fail-fast is the evaluator's: one evaluation, killed whole at the timeout (``runner.py``);
- failures say whose they were (``error.who``: program, evaluator or sandbox) and what happened (``error.kind``);
  an invalid program (its validity metric below the bound, ``correct.json`` false) is measured but infeasible, never
  the best;
- the starter is measured several times uncharged (``measure_starter``): the spread of its objective is the noise
  band within which a difference is not called a gain; a timeout given as "auto" is derived from those runs; the
  unchanged starter evaluated again (a search's first experiment, a library's initial program) is that measurement,
  read back, not charged;
- ``confirm`` re-measures a new best in a fresh copy (uncharged, unrecorded) before it counts.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from glia.tools.programs.record import Artifacts, ProgramEvaluation
from glia.tools.programs.runner import evaluate_program
from glia.tools.programs.spec import EvaluatorSpec, derive_timeout
from glia.tools.programs.telemetry import record_evaluation, stored_evaluation

STARTER_RUNS = 3          # how often the starter is measured to know the noise
Scorer = Callable[[dict], float]
Judge = Callable[[dict], float]


def evaluation_key(source: str, spec: EvaluatorSpec, variant: str = "search") -> str:
    """``prog-PROGRAM-BENCHMARK``: the program's digest and the benchmark's identity."""
    from glia.tools.identity import program_key  # the one digest of a program every method uses
    return f"prog-{program_key(source)}-{spec.identity(variant)}"


@dataclass
class ProgramEvaluator:
    """A program task's evaluator as a function of candidate programs. ``scorer``/``judge``: the task's objective
    and constraint (``glia.state.score``/``violation`` bound to the task); ``db``: the telemetry database (None:
    nothing recorded, nothing read back); ``ledger``/``unit``: the budget (a comparison's); ``noise``: the starter's
    noise band of the objective (``measure_starter``); ``timeout_auto``: the task's timeout is derived from the
    starter's runs."""

    spec: EvaluatorSpec
    scorer: Scorer
    judge: Judge | None = None
    metric: str = "combined_score"
    db: Path | None = None
    ledger: object | None = None          # tools.ledger.BudgetLedger
    unit: str = ""
    noise: float = 0.0
    timeout_auto: bool = False
    seeds: list = field(default_factory=list)
    executor: object | None = None        # tools.executors.Executor (None: this machine's, LocalExecutor)
    kind: str = "program"
    cpu: None = None  # no CPU budget: a program task's evaluator keeps its wall-clock timeout (``timeout_s``)
    starter: dict | None = None           # the starter's baseline (``measure_starter``), once calibrated

    @property
    def workload(self) -> str:
        return f"{self.spec.format} evaluator {self.spec.entry or ' '.join(self.spec.command)}"

    @property
    def timeout_s(self) -> float:
        return self.spec.timeout_s

    def calibrate(self, baselines) -> float:
        """The timeout from the starter's measured runs (when the task said "auto") and the noise band (a
        ``Baseline`` of the starter carries both); the starter's measurement is kept for ``evaluate``."""
        starter = next((b for b in baselines if b.get("policy") == "starter"), None)
        if starter:
            self.starter = starter
            self.noise = float(starter.get("noise") or 0.0)
            if self.timeout_auto and starter.get("runs_s"):
                self.spec = dataclasses.replace(self.spec, timeout_s=derive_timeout(list(starter["runs_s"])))
        return self.spec.timeout_s

    def benchmark_key(self, variant: str = "search") -> str:
        """The benchmark's identity (``EvaluatorSpec.identity``): a comparison resumed on a changed evaluator is
        refused as another benchmark."""
        return self.spec.identity(variant)

    def key(self, source: str, variant: str = "search") -> str:
        return evaluation_key(source, self.spec, variant)

    def run(self, source: str, variant: str = "search") -> ProgramEvaluation:
        """One evaluation in a fresh copy, confined (``runner.evaluate_program``, on the run's executor: here or in
        a Ray worker; never raises for what the program or the evaluator does)."""
        if self.executor is None:
            return evaluate_program(self.spec, source, variant=variant)
        return self.executor.run_program(self.spec, source, variant)

    def flush(self) -> None:
        """Evaluations are written as they finish (nothing is held in the background)."""

    def result(self, ev: ProgramEvaluation, key: str) -> dict:
        """An evaluation as the harness keeps it (the simulator evaluator's keys, and the program's own)."""
        error = None
        if ev.status not in ("ok", "invalid"):
            f = ev.failure
            error = {"kind": ev.status, "who": f.who if f else "unknown",
                     "message": f.message if f else ev.status, "detail": (f.detail if f else "")[-2000:]}
        metrics = dict(ev.metrics)
        score = math.inf if error else self.scorer(metrics)
        violation = 0.0 if error or self.judge is None else self.judge(metrics)
        if ev.valid is False:
            violation = max(violation, 1.0) if violation != math.inf else violation
        art = ev.artifacts
        return {"id": key, "metrics": metrics, "error": error, "score": score, "value": metrics.get(self.metric),
                "violation": violation, "feasible": error is None and violation == 0.0 and ev.valid is not False,
                "valid": ev.valid, "program_status": ev.status, "wall_s": round(ev.wall_s, 3),
                "sim_s": ev.evaluator_s, "program_s": ev.program_s, "private": dict(ev.private),
                "invalid_reason": ev.failure.message if ev.status == "invalid" and ev.failure else "",
                "artifacts": {"tables": {n: len(r) for n, r in art.tables.items()}, "texts": sorted(art.texts),
                              "scalars": {k: v for k, v in list(art.scalars.items())[:20]},
                              "feedback": feedback(ev)},
                "mean_e2e_ci90": None, "ci90": {}, "variant": ev.variant, "isolation": ev.isolation}

    def evaluate(self, program: str, run_id: str, *, label: str = "", context: str = "") -> dict:
        """A charged evaluation of the program file ``program`` (a frozen snapshot), recorded in the telemetry under
        its key, with ``run_id`` (the experiment) beside it; ``status`` ok, error, reused or budget."""
        source = Path(program).read_text(errors="replace")
        key = self.key(source)
        if self.starter is not None and self.starter.get("id") == f"{key}-starter" and not self.starter.get("error"):
            out = self._as_measured(key, program, source)
            if self.ledger is not None:
                self.ledger.note_baseline(self.unit, key, label, out)
            return out
        charge = None
        if self.ledger is not None:
            charge = self.ledger.reserve(self.unit, key, label)
            if charge is None:
                return {"id": key, "status": "budget", "error": {"kind": "budget", "who": "budget", "message":
                        "the evaluation budget is used up"}, "metrics": {}, "score": math.inf, "charged": False}
        stored = stored_evaluation(self.db, key) if self.db else None
        started = time.perf_counter()
        if stored is not None:
            out = self.result(stored, key)
            out.update(reused=True)
        else:
            try:
                ev = self.run(source)
            except KeyboardInterrupt:  # stopped by the user: not measured, so not charged
                if charge is not None and not charge.repeat:
                    self.ledger.release(self.unit, key)
                raise
            if self.db is not None:
                record_evaluation(self.db, key, ev, experiment=run_id, context=context, objective=self.metric)
            out = self.result(ev, key)
            out.update(reused=False)
        from glia.tools.simulation import digest
        out.update(status="reused" if out["reused"] else "error" if out.get("error") else "ok",
                   charged=charge is not None and not charge.repeat, seq=charge.seq if charge else None,
                   wall_s=out.get("wall_s") or time.perf_counter() - started, snapshot=str(Path(program).resolve()),
                   hash=digest(source.encode())[:16], key=key)
        if self.ledger is not None:
            self.ledger.record(self.unit, key, out)
        return out

    def _as_measured(self, key: str, program: str, source: str) -> dict:
        """The unchanged starter, already measured ``STARTER_RUNS`` times for the baseline: that measurement, read
        back, not run again and not charged (``baseline``); its telemetry is that of the starter's first run."""
        from glia.tools.simulation import digest
        b = self.starter or {}
        return {**{k: v for k, v in b.items() if k not in ("policy", "spec", "runs_s", "values", "seeds")},
                "id": key, "key": key, "status": "baseline", "reused": True, "baseline": True, "charged": False,
                "seq": None, "telemetry_run": f"{key}-starter-1", "baseline_runs": b.get("runs"),
                "snapshot": str(Path(program).resolve()), "hash": digest(source.encode())[:16], "wall_s": 0.0}

    def evaluate_source(self, source: str, workdir: Path, *, key: str | None = None, label: str = "",
                        context: str = "", starter: str | None = None) -> dict:
        """A charged evaluation of a program given as text (the libraries' candidates, best shot's): frozen as
        ``workdir/candidates/KEY.EXT`` first, so the code that ran is kept beside its result. With ``starter``
        (a task whose EVOLVE-BLOCK regions are enforced), a candidate that changes code outside them is refused,
        not charged."""
        if starter is not None:
            from glia.tools.programs.blocks import BlockError, check
            try:
                check(starter, source)
            except BlockError as exc:
                return {"id": key or "", "status": "error", "charged": False, "metrics": {}, "score": math.inf,
                        "value": None, "feasible": False, "error": {"kind": "blocks", "who": "program",
                                                                     "message": f"refused, not charged: {exc}"}}
        ext = Path(self.spec.program_file).suffix or ".txt"
        name = key or self.key(source)
        path = Path(workdir) / "candidates" / f"{name}{ext}"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_text(source)
        return self.evaluate(str(path), name, label=label, context=context)

    def measure(self, source: str, run_id: str, *, variant: str = "search", context: str = "",
                record: bool = False) -> dict:
        """An uncharged evaluation of ``source`` (the starter's repeats, a hardened re-measurement, a held-out
        variant); recorded in the telemetry under ``run_id`` only when ``record`` (and then read back if there)."""
        if record and self.db is not None:
            stored = stored_evaluation(self.db, run_id)
            if stored is not None:
                return {**self.result(stored, run_id), "reused": True}
        ev = self.run(source, variant)
        if record and self.db is not None:
            record_evaluation(self.db, run_id, ev, experiment=run_id, context=context, objective=self.metric)
        return {**self.result(ev, run_id), "reused": False}

    def measure_starter(self, source: str, prefix: str, runs: int = STARTER_RUNS) -> dict:
        """The starter measured ``runs`` times, uncharged, each in a fresh copy and recorded (``PREFIX-starter-N``):
        a baseline whose metrics are the mean of the successful runs, ``noise`` the spread (max - min) of the
        objective across them, ``runs_s`` their wall times."""
        measured = [self.measure(source, f"{prefix}-starter-{i + 1}", context="baselines", record=True)
                    for i in range(runs)]
        ok = [m for m in measured if not m.get("error")]
        if not ok:
            first = measured[0]
            return {**first, "policy": "starter", "runs": len(measured), "noise": 0.0, "runs_s": [],
                    "values": [], "id": f"{prefix}-starter"}
        names = dict.fromkeys(k for m in ok for k in m["metrics"])
        metrics = {k: statistics.fmean(m["metrics"][k] for m in ok if k in m["metrics"]) for k in names}
        values = [m["metrics"].get(self.metric) for m in ok if m["metrics"].get(self.metric) is not None]
        hidden = dict.fromkeys(k for m in ok for k in m["private"])
        private = {k: statistics.fmean(m["private"][k] for m in ok if k in m["private"]) for k in hidden}
        base = self.result(ProgramEvaluation("ok" if ok[0]["valid"] is not False else "invalid", metrics,
                                             Artifacts(), "", self.spec.format, valid=ok[0]["valid"],
                                             private=private, isolation=ok[0].get("isolation") or ""),
                           f"{prefix}-starter")
        return {**base, "artifacts": ok[0]["artifacts"], "policy": "starter", "runs": len(measured),
                "runs_ok": len(ok), "values": values, "noise": (max(values) - min(values)) if values else 0.0,
                "runs_s": [m["wall_s"] for m in ok], "reused": all(m.get("reused") for m in measured),
                "seeds": [], "workload": self.workload}

    def confirm(self, source: str, measured: dict) -> dict:
        """Re-measure a candidate in a fresh copy (uncharged, unrecorded): ``agree`` when it succeeds, is valid
        and its objective lies within the noise band of the measured one (exactly equal for a deterministic
        evaluator, up to rounding)."""
        again = self.measure(source, measured.get("key") or measured.get("id", ""))
        if again.get("error"):
            return {"agree": False, "differences": {}, "wall_s": again["wall_s"], "error": again["error"],
                    "fresh_copy": True}
        a, b = measured.get("metrics", {}).get(self.metric), again["metrics"].get(self.metric)
        band = max(self.noise, 1e-9 * max(abs(a or 0.0), abs(b or 0.0), 1.0))
        diffs = {}
        if a is None or b is None or abs(a - b) > band:
            diffs[self.metric] = [a, b]
        if not again["feasible"]:
            diffs["validity"] = "valid when measured, invalid in the fresh copy"
        return {"agree": not diffs, "differences": diffs, "wall_s": again["wall_s"], "error": None,
                "fresh_copy": True, "value": b}


def feedback(ev: ProgramEvaluation, limit: int = 1500) -> str:
    """What the evaluator said about the program, for the researcher: its feedback texts and the tail of its
    output (never ``private``)."""
    texts = ev.artifacts.texts
    parts = []
    for name in ("feedback", "text_feedback", "summary"):
        if texts.get(name):
            parts.append(f"{name}: {texts[name][-limit:]}")
    for name, value in ev.artifacts.scalars.items():
        if name in ("error", "summary", "feedback", "text_feedback") and value:
            parts.append(f"{name}: {value}")
    if ev.failure and ev.failure.detail:
        parts.append(f"detail: {ev.failure.detail[-limit:]}")
    return "\n".join(parts)[-2 * limit:]
