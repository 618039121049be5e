"""The ``run_simulation`` tool: a candidate policy of the task's layer (router, batch policy or autoscaler), with the
task's fixed policies in the other layers, on the task's benchmark over its seeds, through the evaluator every method
shares (``evaluator.py``: fail-fast, the task's timeout, the budget ledger, recorded in telemetry); and
``confirm_hardened``, the re-measurement a design must pass before it is reported best.

Experiments are idempotent by id: an experiment already in the telemetry database (finished before a crash or a
kill) is read back instead of run again, so resuming a run never repeats or loses one.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path

from glia.simulator.harness.runner import run_benchmark, same_figure
from glia.simulator.metrics import SUMMARY_METRICS, clean
from glia.tools.evaluator import Evaluator, program_key
from glia.tools.workspace import WorkspaceError, read_inside, write_inside

# what an experiment keeps of its evaluation (the ``Measurement`` record's fields)
MEASUREMENT = ("metrics", "mean_e2e_ci90", "ci90", "error", "wall_s", "sim_s", "isolation")


def snapshot_store(workspace: Path) -> Path:
    """Where a context's experiments are frozen: beside its workspace, never inside it (the shell and the file tools
    write anywhere inside, and Landlock grants a whole tree), e.g. ``runs/THREAD/contexts/.c1-experiments/``."""
    workspace = Path(workspace)
    return workspace.parent / f".{workspace.name}-experiments"


def digest(code: bytes) -> str:
    return hashlib.sha256(code).hexdigest()


class SnapshotChanged(ValueError):
    """A frozen snapshot no longer holds the bytes that were measured."""


def frozen_code(path: str | Path, sha256: str) -> bytes:
    """The bytes of a frozen snapshot, checked against the digest taken when it was measured (``SnapshotChanged``
    if they differ or it is gone); opened without following a link."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise SnapshotChanged(f"the snapshot {Path(path).name} is missing or not a file ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise SnapshotChanged(f"the snapshot {Path(path).name} is not a regular file")
        code = f.read(MAX_POLICY_BYTES + 1)
    if digest(code) != sha256:
        raise SnapshotChanged(f"the snapshot {Path(path).name} changed since it was measured (its SHA-256 is not the "
                              "one recorded)")
    return code


def best_code(best: dict | None) -> bytes | None:
    """The best design's bytes, checked against the digest taken when it was measured (None if there is no best;
    ``SnapshotChanged`` if the snapshot no longer holds them)."""
    if not best:
        return None
    if not best.get("sha256"):  # a run checkpointed before snapshots were frozen outside the workspace
        raise SnapshotChanged("the best design was recorded without its SHA-256 (an older run); re-run it to deliver "
                              "a checked design")
    return frozen_code(best["snapshot"], best["sha256"])


def run_simulation(workspace: Path, evaluator: Evaluator, candidate: str, experiment_id: str,
                   context: str = "", run_id: str | None = None) -> dict:
    """Run ``candidate`` (a file in the workspace: a policy of the evaluator's layer) and return a compact result
    with the experiment id and its ``run_id``, the key it is recorded (and charged) under: by default the
    experiment id; a Glia run makes it unique to the run (``THREAD/c1-e001``), so that runs sharing a workspace
    never read back each other's experiments.

    The candidate's bytes are read once (a regular file inside the workspace, no link followed) and frozen, with
    their SHA-256, in the context's snapshot store outside the workspace (``frozen``): what is measured, re-measured
    hardened, measured on held-out seeds and delivered as the best design are those bytes, checked against that
    digest at each use. ``snapshot`` is a copy in the workspace for the researcher to read (``experiments/ID.py``);
    nothing the harness does reads it back.
    """
    frozen, code, shown = freeze_candidate(workspace, candidate, experiment_id)
    sha = digest(code)
    run_id = run_id or experiment_id
    res = evaluator.evaluate(str(frozen), run_id, context=context)
    evaluator.flush()  # recorded before the step that ran it is checkpointed (the analyst reads it next)
    if res["status"] == "budget":
        raise ValueError("the simulation budget is used up; call finish with your best design")
    run_id = res.get("id") or run_id  # another id when this one held another program or benchmark
    error = res.get("error")
    if error and str(frozen) in str(error.get("message", "")):  # name the file as the researcher knows it
        message = error["message"].replace(str(frozen), shown or candidate)
        error = {**error, "message": message + failing_line(message, shown or candidate, code)}
    return {**{k: res.get(k) for k in MEASUREMENT}, "error": error, "id": experiment_id, "run_id": run_id,
            "candidate": candidate, "snapshot": shown, "frozen": str(frozen), "sha256": sha, "hash": sha[:16],
            "program": program_key(code.decode(errors="replace")),
            "workload": res.get("workload") or evaluator.workload, "seeds": list(evaluator.seeds),
            "reused": bool(res.get("reused"))}


MAX_POLICY_BYTES = 1 << 20


def freeze_candidate(workspace: Path, candidate: str, experiment_id: str, suffix: str = ".py",
                     check: Callable[[bytes], None] | None = None) -> tuple[Path, bytes, str]:
    """``candidate`` (a file in the workspace) read once and frozen in the context's snapshot store as
    ``EXPERIMENT_ID+SUFFIX`` with its digest (a recorded experiment keeps the snapshot it ran); ``check`` may refuse
    the bytes before they are frozen (raising). (the frozen path, the bytes, the researcher's copy in the workspace:
    ``experiments/ID+SUFFIX``, "" when the shell put something in its way)."""
    store = snapshot_store(workspace)
    store.mkdir(parents=True, exist_ok=True)
    frozen = store / f"{experiment_id}{suffix}"
    try:  # a recorded experiment keeps the snapshot it ran
        code = frozen_code(frozen, _recorded_digest(frozen))
    except SnapshotChanged:
        try:
            code = read_inside(workspace, candidate, MAX_POLICY_BYTES)
        except WorkspaceError as exc:
            if str(exc).startswith("no file"):
                raise FileNotFoundError(f"candidate {candidate!r} not found in the workspace") from None
            raise FileNotFoundError(f"candidate {candidate!r} refused: {exc}") from None
        if check is not None:
            check(code)
        _freeze(frozen, code)
    shown = f"experiments/{experiment_id}{suffix}"
    try:
        write_inside(workspace, shown, code)
    except (WorkspaceError, OSError):
        shown = ""  # the shell put something in the way: the researcher reads the candidate itself
    return frozen, code, shown


def _freeze(frozen: Path, code: bytes) -> None:
    """Write the snapshot and its digest once (never over an existing file, never through a link)."""
    for path, data in ((frozen, code), (frozen.with_suffix(".sha256"), digest(code).encode())):
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o444)
        with os.fdopen(fd, "wb") as f:
            f.write(data)


def _recorded_digest(frozen: Path) -> str:
    try:
        fd = os.open(frozen.with_suffix(".sha256"), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return ""
    with os.fdopen(fd, "rb") as f:
        return f.read(64).decode(errors="replace")


def failing_line(message: str, name: str, code: bytes) -> str:
    """The line an error points at (``... at NAME:LINE: ...``), quoted from the code that ran (never from a file the
    message names: its text comes from the policy)."""
    at = re.search(r" at (\S+\.py):(\d+)", message)
    if not at or at.group(1) != name:
        return ""
    lines = code.decode(errors="replace").splitlines()
    n = int(at.group(2))
    return f" (line {n}: `{lines[n - 1].strip()}`)" if 0 < n <= len(lines) else ""


def run_baseline(evaluator: Evaluator, policy: str, run_id: str) -> dict:
    """A baseline policy of the evaluator's layer (a built-in or a file) on the benchmark, uncharged, recorded under
    ``run_id`` (idempotent like ``run_simulation``)."""
    res = evaluator.measure(policy, run_id, context="baselines")
    return {**{k: res.get(k) for k in (*MEASUREMENT, "seed_s", "seed_cpu_s", "workload", "reused")},
            "id": res.get("id") or run_id,
            "policy": policy, "seeds": list(evaluator.seeds)}


def confirm_hardened(workspace: Path, experiment: dict, evaluator: Evaluator) -> dict:
    """Re-measure an experiment's frozen snapshot (with the task's fixed policies of the other layers) with the
    policies in a process of their own driven over a pipe (the hardened mode), and say whether every figure agrees
    with the measurement. A snapshot changed since it was measured, a failure or any difference means the measured
    figures cannot be trusted. Not recorded in telemetry: the experiment is there once, as measured."""
    try:
        frozen_code(experiment["frozen"], experiment["sha256"])
    except (SnapshotChanged, KeyError):
        return {"agree": False, "differences": {"snapshot": "changed or missing since it was measured"},
                "wall_s": 0.0, "error": None}
    stack = evaluator.stack(experiment["frozen"])
    cpu, wall = evaluator.deadline(stack, hardened=True)
    hard = run_benchmark(stack["router"], evaluator.workload, evaluator.seeds, memory_mb=evaluator.memory_mb,
                         timeout_s=wall, cpu=cpu, hardened=True,
                         batch=stack["batch"], autoscaler=stack["autoscaler"])
    measured = experiment.get("metrics", {})
    diffs = {m: [clean(measured.get(m)), clean(hard.metric(m))] for m in SUMMARY_METRICS
             if not same_figure(measured.get(m), hard.metric(m) if m in hard.metrics else None)}
    error = hard.error
    if error and experiment.get("snapshot"):
        error = {**error, "message": str(error.get("message", "")).replace(experiment["frozen"],
                                                                          experiment["snapshot"])}
    return {"agree": not diffs and not error, "differences": diffs, "wall_s": round(hard.wall_s, 3),
            "error": error}


def describe_check(check: dict) -> str:
    """One line for the researcher, the report and the CLI."""
    if check["agree"]:
        return f"hardened re-measurement agrees: every figure equal (the re-run took {check['wall_s']:.1f} s)"
    if check.get("error"):
        return f"hardened re-measurement FAILED ({check['error']['kind']}: {check['error']['message'][:200]})"
    diffs = "; ".join(f"{m}: {v}" if isinstance(v, str) else f"{m} {v[0]} measured, {v[1]} hardened"
                      for m, v in check["differences"].items())
    return f"hardened re-measurement DISAGREES, the measured figures cannot be trusted ({diffs})"
