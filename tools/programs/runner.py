"""One evaluation of a candidate program by a program task's evaluator, in a fresh copy of the working directory,
confined; the result is a ``ProgramEvaluation`` that says whose failure a failure was.

Each evaluation gets a directory of its own (``root``)::

    root/work/       a fresh copy of the evaluator's working directory: its cwd, on its sys.path; the candidate's
                     file name there holds the stand-in (split isolation) or the program itself (shared)
    root/program/    the program's real file, and the files of ``program_reads`` (split isolation)
    root/pscratch/   where the program may write (its stdout and stderr land here)
    root/results/    ShinkaEvolve's results_dir ({results} of a command)
    root/glia/       the result file of the OpenEvolve driver and the bridge's status lines
    root/tmp/        the evaluator's TMPDIR

The evaluator runs through ``simulator/isolation/confine.py`` as the shell tool's commands do: Landlock (reads: the
Python installation, the system's programs, ``root/work`` and ``root/program``; writes: ``root`` but the program's
directory), a user and network namespace (no network), a PID namespace (the whole tree dies at the timeout),
seccomp (no sockets), rlimits (memory, CPU, file sizes, processes), a scrubbed environment. In split isolation the
program runs in a further confined child of the evaluator's process (``bridge.py``): it reads only the Python
installation and ``root/program``, writes only ``root/pscratch``, creates no process and opens no socket.

What this catches: a program that reads the evaluator's files (test cases, expected answers, traces, the
evaluator's source), writes into them or into the results channel (``metrics.json``, the result file, the
evaluator's stdout when it runs the program as a module), reaches the network, reads the user's environment
(keys), loops (killed at its time budget, reported as the program's timeout), exhausts memory, or crashes its
process. What it does not catch: an evaluator whose scoring can be gamed through the values it receives (a program
that skips work the evaluator never checks, or returns what the evaluator trusts); a program the evaluator runs as
a script with its stdout as the evaluator's own (a command format evaluator that lets the program print into its
output); anything in shared isolation beyond the evaluator's own confinement (the program there can read what the
evaluator reads). A new best is re-measured in a fresh copy before it counts (the integration's job).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from glia.simulator.isolation import confine
from glia.tools.programs import bridge
from glia.tools.programs.record import Artifacts, Failure, ProgramEvaluation, cap, split_metrics
from glia.tools.programs.spec import COPY_IGNORE, EvaluatorSpec

PROGRAMS_DIR = str(Path(__file__).parent)
BRIDGE = str(Path(bridge.__file__))
DRIVER = str(Path(__file__).parent / "openevolve_driver.py")
CONFINE = str(Path(confine.__file__))
STATUS = "status.jsonl"
_ESCAPED = re.compile(r"^(program|glia_program_bridge)\.(\w+): ?(.*)$")


def program_digest(source: str) -> str:
    """The program's identity: the SHA-256 of its text."""
    return hashlib.sha256(source.encode()).hexdigest()


def _margin(timeout_s: float) -> float:
    """Time kept for the evaluator after the program's deadline, so that it can report a looping program."""
    return max(1.0, 0.1 * timeout_s)


def python_read() -> list[str]:
    """The Python installation, with the package directories a ``.pth`` file adds (a venv layered on another's
    site-packages): the evaluator and the program import from them."""
    roots = confine.python_roots()
    extra = [p for p in sys.path if p and ("site-packages" in p or "dist-packages" in p) and os.path.isdir(p)
             and not any(p == r or p.startswith(r + os.sep) for r in roots)]
    return [*roots, *dict.fromkeys(extra)]


def evaluation_dirs(root: Path) -> dict[str, Path]:
    return {name: root / name for name in ("work", "program", "pscratch", "results", "glia", "tmp")}


def evaluator_box(spec: EvaluatorSpec, dirs: dict[str, Path]) -> confine.Box:
    """Where the evaluator may be: see the module's docstring."""
    return confine.Box(profile="shell",
                       read=[*python_read(), *confine.SYSTEM_READ, PROGRAMS_DIR, CONFINE, str(dirs["work"]),
                             str(dirs["program"])],
                       write=[str(dirs[d]) for d in ("work", "results", "glia", "pscratch", "tmp")],
                       memory_mb=spec.memory_mb, cpu_s=spec.timeout_s + 1, file_mb=256, open_files=512,
                       processes=confine.PID_MAX_MIN, cwd=str(dirs["work"]))


def program_box(spec: EvaluatorSpec, dirs: dict[str, Path]) -> confine.Box:
    """Where the program may be (split isolation): a further confinement inside the evaluator's. The system's
    program and library directories are readable (numpy's C extensions load libstdc++ from there)."""
    return confine.Box(profile="policy", read=[*python_read(), *confine.SYSTEM_READ, BRIDGE, CONFINE,
                                               str(dirs["program"])],
                       write=[str(dirs["pscratch"])], memory_mb=spec.memory_mb, cpu_s=spec.timeout_s + 1, file_mb=64,
                       open_files=64, processes=None, cwd=str(dirs["program"]),
                       use={"userns": False, "pidns": False, "bwrap": False})


def _copy_workdir(spec: EvaluatorSpec, work: Path) -> None:
    if not spec.workdir.is_dir():
        raise FileNotFoundError(f"the evaluator's working directory {spec.workdir} does not exist")
    shutil.copytree(spec.workdir, work, ignore=shutil.ignore_patterns(*COPY_IGNORE))


def _place_program(spec: EvaluatorSpec, source: str, dirs: dict[str, Path], iso: confine.Isolation,
                   deadline_epoch: float) -> Path:
    """Write the program (and, in split isolation, its stand-in) where the evaluator will look; its path there."""
    target = dirs["work"] / spec.program_file
    target.parent.mkdir(parents=True, exist_ok=True)
    if spec.isolation == "shared":
        target.write_text(source)
        return target
    real = dirs["program"] / spec.program_file
    real.parent.mkdir(parents=True, exist_ok=True)
    real.write_text(source)
    for rel in spec.program_reads:
        src = dirs["work"] / rel
        dst = dirs["program"] / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        elif src.is_file():
            shutil.copy2(src, dst)
    pscratch = str(dirs["pscratch"])
    host_spec = {
        "bridge": BRIDGE, "confine": CONFINE, "program": str(real), "cwd": str(real.parent),
        "box": asdict(program_box(spec, dirs)), "iso": asdict(iso), "status": str(dirs["glia"] / STATUS),
        "stdout": str(dirs["pscratch"] / "program.out"), "stderr": str(dirs["pscratch"] / "program.err"),
        "budget_s": max(0.5, spec.timeout_s - _margin(spec.timeout_s)), "deadline_epoch": deadline_epoch,
        "env": {**confine.safe_env(home=pscratch), "TMPDIR": pscratch, "PYTHONDONTWRITEBYTECODE": "1"},
    }
    target.write_text(bridge.stand_in(host_spec, source))
    return target


def _argv(spec: EvaluatorSpec, program: Path, dirs: dict[str, Path], variant) -> list[str]:
    if spec.format == "openevolve":
        driver = {"evaluator": str(dirs["work"] / spec.entry), "program": str(program),
                  "cascade": list(spec.cascade) if spec.cascade else None,
                  "kwargs": {**spec.kwargs, **variant.kwargs}, "result": str(dirs["glia"] / "result.json")}
        return [sys.executable, "-I", DRIVER, json.dumps(driver)]
    if spec.format == "shinka":
        return [sys.executable, str(dirs["work"] / spec.entry), "--program_path", str(program), "--results_dir",
                str(dirs["results"]), *spec.args, *variant.args]
    fill = {"{program}": str(program), "{results}": str(dirs["results"]), "{workdir}": str(dirs["work"])}
    out = []
    for arg in spec.command:
        for key, value in fill.items():
            arg = arg.replace(key, value)
        out.append(arg)
    return [*out, *spec.args, *variant.args]


def evaluate_program(spec: EvaluatorSpec, source: str, *, variant: str = "search", allow_unconfined: bool = False,
                     keep: Path | None = None, scratch: str | None = None) -> ProgramEvaluation:
    """Evaluate ``source`` with ``spec``'s evaluator (``variant``: ``search``, or one of the spec's variants such as
    ``heldout``) in a fresh copy of its working directory, confined. Never raises for what the program or the
    evaluator does; ``keep``: copy the evaluation's directory there (for inspection)."""
    start = time.perf_counter()
    digest = program_digest(source)
    var = spec.variant(variant)

    def record(status: str, failure: Failure | None, **kw) -> ProgramEvaluation:
        return ProgramEvaluation(status=status, metrics=kw.pop("metrics", {}), artifacts=kw.pop("artifacts", None)
                                 or Artifacts(), program_sha256=digest, format=spec.format, variant=variant,
                                 failure=failure, wall_s=time.perf_counter() - start, **kw)

    try:
        iso = confine.require("shell", allow_unconfined)
    except confine.Unconfined as exc:
        return record("sandbox", Failure("sandbox", "sandbox", str(exc)))
    root = Path(tempfile.mkdtemp(prefix="glia-eval-", dir=scratch))
    try:
        dirs = evaluation_dirs(root)
        try:
            _copy_workdir(spec, dirs["work"])
        except OSError as exc:
            return record("evaluator_error", Failure("evaluator", "evaluator_error",
                                                     f"cannot copy the working directory: {exc}"))
        for name in ("program", "pscratch", "results", "glia", "tmp"):
            dirs[name].mkdir()
        deadline_epoch = time.time() + spec.timeout_s - _margin(spec.timeout_s)
        program = _place_program(spec, source, dirs, iso, deadline_epoch)
        argv = _argv(spec, program, dirs, var)
        env = {**confine.safe_env(home=str(dirs["work"]), extra_path=[str(Path(sys.executable).parent)]),
               "TMPDIR": str(dirs["tmp"]), "PYTHONDONTWRITEBYTECODE": "1", **spec.env, **var.env}
        box = evaluator_box(spec, dirs)
        out_path, err_path = dirs["glia"] / "evaluator.out", dirs["glia"] / "evaluator.err"
        t0 = time.perf_counter()
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            proc = subprocess.Popen(confine.command(box, argv, spec.timeout_s, iso), cwd=dirs["work"], env=env,
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True)
            try:
                code = proc.wait(timeout=spec.timeout_s + 15)
            except subprocess.TimeoutExpired:  # the launcher itself is stuck: kill its session
                os.killpg(proc.pid, signal.SIGKILL)
                code = proc.wait()
        evaluator_wall = time.perf_counter() - t0
        result = _collect(spec, dirs, code, iso, evaluator_wall)
        if keep is not None:
            shutil.copytree(root, keep, dirs_exist_ok=True)
        result.wall_s = time.perf_counter() - start
        result.program_sha256, result.variant = digest, variant
        return result
    finally:
        shutil.rmtree(root, ignore_errors=True)


# -- reading what came back -------------------------------------------------------------------------------------------
def _read(path: Path, limit: int = 200_000) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError:
        return ""
    text = data.decode(errors="replace")
    return text if len(data) <= limit else text[:limit] + "\n... (cut)"


def _events(path: Path) -> list[dict]:
    out = []
    for line in _read(path, 2_000_000).splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if isinstance(ev, dict):
            out.append(ev)
    return out


def _last_json(stdout: str) -> dict | None:
    """The last line of ``stdout`` that is a JSON object (or the whole output, when it is one)."""
    text = stdout.strip()
    if text.startswith("{"):
        try:
            value = json.loads(text)
            if isinstance(value, dict):
                return value
        except ValueError:
            pass
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return None


def _table_file(path: Path) -> list[dict] | None:
    import csv
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, csv.Error, UnicodeDecodeError):
        return None
    return rows or None


def _results_files(results: Path, art: Artifacts, skip: set[str]) -> None:
    """What a ShinkaEvolve evaluator (or a command) left in its results directory besides the metrics: JSON and CSV
    files as tables (or scalars), text files as texts."""
    for path in sorted(results.rglob("*")):
        if not path.is_file() or path.name in skip:
            continue
        name = str(path.relative_to(results))
        if path.suffix == ".json":
            try:
                art.add(name, json.loads(_read(path, 5_000_000)))
            except ValueError:
                art.texts[name] = cap(_read(path))
        elif path.suffix == ".csv":
            rows = _table_file(path)
            if rows is not None:
                art.add(name, rows)
        elif path.suffix in (".txt", ".log", ".out", ".err", ".md"):
            art.texts[name] = cap(_read(path))
        else:
            art.scalars[f"{name} (bytes)"] = path.stat().st_size


def _parse(spec: EvaluatorSpec, dirs: dict[str, Path], stdout: str, art: Artifacts) -> dict:
    """The format's results: ``metrics`` (raw), ``private``, ``correct``/``error`` (ShinkaEvolve), ``crash`` (the
    OpenEvolve driver's report of an exception), ``evaluator_s``; ``missing`` says what was not there."""
    if spec.format == "openevolve":
        path = dirs["glia"] / "result.json"
        if not path.is_file():
            return {"missing": "the evaluator's process ended before reporting (no result from the driver)"}
        try:
            res = json.loads(_read(path, 50_000_000))
        except ValueError:
            return {"missing": "the driver's result file is not JSON"}
        for k, v in (res.get("artifacts") or {}).items():
            art.add(k, v)
        if res.get("stages") and len(res["stages"]) > 1:
            art.add("cascade", [{"stage": s["stage"], "seconds": round(s["s"], 4)} for s in res["stages"]])
        if res.get("cascade_stopped_after"):
            art.scalars["cascade_stopped_after"] = res["cascade_stopped_after"]
        out = {"evaluator_s": res.get("evaluator_s")}
        if not res.get("ok"):
            out["crash"] = res
            out["metrics"] = res.get("metrics") or None
        else:
            out["metrics"] = res.get("metrics")
        return out
    if spec.format == "shinka":
        mpath, cpath = dirs["results"] / "metrics.json", dirs["results"] / "correct.json"
        out: dict = {}
        if cpath.is_file():
            try:
                corr = json.loads(_read(cpath))
                out["correct"] = bool(corr.get("correct")) if isinstance(corr, dict) else False
                out["error"] = corr.get("error") if isinstance(corr, dict) else "correct.json is not an object"
            except ValueError:
                out["correct"], out["error"] = False, "correct.json is not JSON"
        if not mpath.is_file():
            out["missing"] = "the evaluator wrote no metrics.json"
            return out
        try:
            raw = json.loads(_read(mpath, 50_000_000))
        except ValueError:
            out["missing"] = "metrics.json is not JSON"
            return out
        if not isinstance(raw, dict):
            out["missing"] = "metrics.json is not a JSON object"
            return out
        public = raw.pop("public", None)
        private = raw.pop("private", None)
        feedback = raw.pop("text_feedback", None)
        if isinstance(public, dict):
            raw = {**raw, **{k: v for k, v in public.items() if k not in raw}}
        elif public is not None:
            art.add("public", public)
        if isinstance(private, dict):
            out["private"] = split_metrics(private, Artifacts())  # never shown: its non-numbers are dropped
        if feedback:
            art.texts["text_feedback"] = cap(feedback if isinstance(feedback, str) else "\n".join(map(str, feedback)))
        _results_files(dirs["results"], art, {"metrics.json", "correct.json"})
        out["metrics"] = raw
        return out
    value = _last_json(stdout)
    _results_files(dirs["results"], art, set())
    if value is None:
        return {"missing": "the evaluator printed no JSON object on its stdout"}
    if isinstance(value.get("metrics"), dict):
        for k, v in (value.get("artifacts") or {}).items() if isinstance(value.get("artifacts"), dict) else ():
            art.add(k, v)
        extra = {k: v for k, v in value.items() if k not in ("metrics", "artifacts")}
        return {"metrics": {**extra, **value["metrics"]}}
    return {"metrics": value}


def _collect(spec: EvaluatorSpec, dirs: dict[str, Path], code: int, iso: confine.Isolation,
             evaluator_wall: float) -> ProgramEvaluation:
    art = Artifacts()
    stdout, stderr = _read(dirs["glia"] / "evaluator.out"), _read(dirs["glia"] / "evaluator.err")
    events = _events(dirs["glia"] / STATUS)
    for name, text in (("evaluator_stdout", stdout), ("evaluator_stderr", stderr),
                       ("program_stdout", _read(dirs["pscratch"] / "program.out")),
                       ("program_stderr", _read(dirs["pscratch"] / "program.err"))):
        if text.strip():
            art.texts[name] = cap(text)
    raised = [e for e in events if e.get("event") == "program_raised"]
    if raised:
        art.texts["program_exceptions"] = cap("\n\n".join(
            f"{e.get('type')}: {e.get('message')}\n{e.get('traceback', '')}".rstrip() for e in raised))
    stats = [e for e in events if e.get("event") == "program_stats"]
    loaded = [e for e in events if e.get("event") == "program_loaded"]
    fatal = next((e for e in events if e.get("event") in ("program_timeout", "program_crashed",
                                                          "program_load_error", "program_sandbox")), None)
    if spec.isolation == "split":
        isolation = (f"evaluator: {iso.level}; program: {loaded[0].get('isolation', '?') if loaded else 'not loaded'}"
                     " in a process of its own")
    else:
        isolation = f"evaluator: {iso.level}; program: in the evaluator's process (shared)"
    common = dict(isolation=isolation, events=events[:200],
                  program_s=sum(e.get("program_s", 0.0) for e in stats) if stats else None,
                  program_calls=sum(e.get("calls", 0) for e in stats) if stats else None)

    def rec(status, failure=None, metrics=None, valid=None, private=None, evaluator_s=None):
        return ProgramEvaluation(status=status, metrics=metrics or {}, artifacts=art, program_sha256="",
                                 format=spec.format, failure=failure, valid=valid, private=private or {},
                                 evaluator_s=evaluator_s, **common)

    if "glia-confine: cannot start the sandbox" in stderr:
        return rec("sandbox", Failure("sandbox", "sandbox", "the evaluator's sandbox could not start, so nothing ran",
                                      stderr.strip()[-2000:]))
    if fatal and fatal["event"] == "program_sandbox":
        return rec("sandbox", Failure("sandbox", "sandbox", f"the program's sandbox could not start: "
                                                            f"{fatal.get('message')}"))
    program_failure = _program_failure(fatal)
    if code == confine.TIMEOUT_EXIT and "glia-confine: killed at" in stderr:
        if program_failure and program_failure.kind == "program_timeout":
            return rec("program_timeout", program_failure)
        if spec.isolation == "split":
            return rec("evaluator_timeout", Failure(
                "evaluator", "evaluator_timeout", f"the evaluator did not finish within {spec.timeout_s:g} s (it was "
                f"killed with every process it started); the program's calls had not used up the program's time",
                stderr.strip()[-2000:]))
        return rec("timeout", Failure("unknown", "timeout", f"the evaluation did not finish within "
                                      f"{spec.timeout_s:g} s (killed); with the program in the evaluator's process "
                                      "(shared isolation) Glia cannot tell whose loop it was"))
    parsed = _parse(spec, dirs, stdout, art)
    evaluator_s = parsed.get("evaluator_s") if spec.format == "openevolve" else evaluator_wall
    raw = parsed.get("metrics")
    crash = parsed.get("crash")
    if crash:
        who = crash.get("who", "evaluator")
        detail = crash.get("traceback", "")
        if crash.get("program_traceback"):
            art.texts["program_traceback"] = cap(crash["program_traceback"])
        if who == "program":
            what = crash.get("type") or "an exception"
            if crash.get("message") and not str(crash["message"]).startswith(f"{what}:"):
                what += f": {crash['message']}"
            elif crash.get("message"):
                what = crash["message"]
            failure = program_failure or Failure(
                "program", _kind_of(crash.get("type", "")), f"the program raised {what} (in {crash.get('phase')}; "
                "the evaluator did not catch it)", crash.get("program_traceback") or detail)
        elif program_failure:  # the program timed out, died or failed to load first; the evaluator then broke
            failure = program_failure
            failure.message += f" (then the evaluator raised {crash.get('type')}: {crash.get('message')})"
        else:
            kind = "bad_metrics" if crash.get("type") == "TypeError" and "returned a" in crash.get("message", "") \
                else "evaluator_error"
            failure = Failure("evaluator", kind, f"the evaluator raised {crash.get('type')}: {crash.get('message')} "
                              f"(in {crash.get('phase')})", detail)
        art.texts["evaluator_traceback"] = cap(detail) if detail else art.texts.get("evaluator_traceback", "")
        metrics = split_metrics(raw, art) if isinstance(raw, dict) else {}
        return rec(failure.kind, failure, metrics=metrics, evaluator_s=evaluator_s)
    if parsed.get("missing") or not isinstance(raw, dict):
        if program_failure:
            return rec(program_failure.kind, program_failure, evaluator_s=evaluator_s)
        escaped = _escaped(stderr)
        if escaped:
            return rec("program_error", Failure("program", "program_error", f"the program raised {escaped} and the "
                                                "evaluator did not catch it", stderr.strip()[-4000:]))
        if spec.format == "shinka" and parsed.get("error") and not parsed.get("correct"):
            return rec("invalid", Failure("program", "invalid", f"correct.json: {parsed['error']}"), valid=False)
        what = parsed.get("missing") or "no metrics"
        if code != 0:
            last = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
            what += f"; it exited with status {code}" + (f" ({last[-1][:300]})" if last else "")
            return rec("evaluator_error", Failure("evaluator", "evaluator_error", what, stderr.strip()[-4000:]),
                       evaluator_s=evaluator_s)
        return rec("no_metrics", Failure("evaluator", "no_metrics", what, (stdout.strip() or stderr.strip())[-2000:]),
                   evaluator_s=evaluator_s)
    metrics = split_metrics(raw, art)
    valid = None
    reason = ""
    if spec.format == "shinka":
        valid = bool(parsed.get("correct", False))
        metrics["correct"] = 1.0 if valid else 0.0
        if not valid:
            reason = f"correct.json: {parsed.get('error') or 'missing (counts as incorrect)'}"
    if spec.validity:
        name, least = spec.validity
        value = metrics.get(name)
        ok = value is not None and value >= least
        valid = ok if valid is None else (valid and ok)
        if not ok:
            reason = reason or (f"the validity metric {name} is {value:g} (a valid program has >= {least:g})"
                                if value is not None else f"the evaluator reported no {name} metric")
    if spec.objective not in metrics and valid is not False:
        if program_failure:
            return rec(program_failure.kind, program_failure, metrics=metrics, evaluator_s=evaluator_s)
        shown = art.scalars.get(spec.objective)
        return rec("bad_metrics", Failure("evaluator", "bad_metrics", f"no finite {spec.objective!r} among the "
                   f"metrics (got {shown!r})" if shown is not None else f"no {spec.objective!r} among the metrics "
                   f"({', '.join(metrics) or 'none'})"), metrics=metrics, evaluator_s=evaluator_s)
    private = parsed.get("private")
    if program_failure:  # the evaluator carried on after the program timed out, crashed or failed to load
        return rec(program_failure.kind, program_failure, metrics=metrics, valid=valid, private=private,
                   evaluator_s=evaluator_s)
    if valid is False:
        return rec("invalid", Failure("program", "invalid", reason), metrics=metrics, valid=False, private=private,
                   evaluator_s=evaluator_s)
    return rec("ok", None, metrics=metrics, valid=valid, private=private, evaluator_s=evaluator_s)


def _kind_of(type_name: str) -> str:
    return {"ProgramTimeout": "program_timeout", "ProgramCrashed": "program_crashed"}.get(type_name, "program_error")


def _program_failure(event: dict | None) -> Failure | None:
    if not event:
        return None
    kind = event["event"]
    if kind == "program_timeout":
        return Failure("program", "program_timeout", f"the program did not answer within its time "
                       f"({event.get('budget_s', 0):g} s for the evaluation): it was killed")
    if kind == "program_crashed":
        code = event.get("exit")
        how = f"killed by signal {-code}" if isinstance(code, int) and code < 0 else f"exit status {code}"
        return Failure("program", "program_crashed", f"the program's process died ({how})", event.get("stderr", ""))
    if kind == "program_load_error":
        return Failure("program", "program_load_error", f"the program failed to load: {event.get('type')}: "
                       f"{event.get('message')}", event.get("traceback", ""))
    return None


def _escaped(stderr: str) -> str:
    """The program's exception, when it is what ended the evaluator (the last line of a traceback)."""
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    if not lines:
        return ""
    m = _ESCAPED.match(lines[-1].strip())
    return f"{m.group(2)}: {m.group(3)}" if m else ""
