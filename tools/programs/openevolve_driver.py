"""Runs an OpenEvolve-format evaluator once, in the evaluator's confined process: ``python -I openevolve_driver.py
SPEC_JSON``. Loads the evaluator file as OpenEvolve does (its directory first on ``sys.path``, registered as
``evaluation_module``), runs ``evaluate(program_path)`` or, with cascade thresholds and an ``evaluate_stage1``, the
stages with OpenEvolve's threshold rule, and writes what came back to the result file (a file of the evaluator's
process that the program cannot reach). Unlike OpenEvolve, a stage that raises is reported as raised (with whose
exception it was: the program's, through the bridge, or the evaluator's), not folded into an ``error`` metric, so
the runner can say whose failure it was. Standard library only.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import sys
import time
import traceback


def _plain(value):
    """Anything an evaluator returns, as JSON-able data (numpy values as numbers and lists, the rest as text)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if type(value).__module__ == "numpy":
        if hasattr(value, "tolist"):
            return _plain(value.tolist())
    if hasattr(value, "item"):
        try:
            return _plain(value.item())
        except Exception:  # noqa: BLE001
            pass
    return str(value)


def _split(result) -> tuple[dict, dict, str]:
    """(metrics, artifacts, kind) of what ``evaluate`` returned: a dict is all metrics (as in OpenEvolve); an
    ``EvaluationResult`` (anything with ``metrics`` and ``artifacts``) is both."""
    if isinstance(result, dict):
        return result, {}, "dict"
    metrics = getattr(result, "metrics", None)
    if isinstance(metrics, dict):
        artifacts = getattr(result, "artifacts", None)
        return metrics, artifacts if isinstance(artifacts, dict) else {}, "EvaluationResult"
    return {}, {}, type(result).__name__


def _passes(metrics: dict, threshold: float) -> bool:
    """OpenEvolve's rule: ``combined_score`` if numeric, else the mean of the numeric non-bool metrics but
    ``error``."""
    if not metrics:
        return False
    score = metrics.get("combined_score")
    if isinstance(score, (int, float)) and not isinstance(score, bool):
        return float(score) >= threshold
    vals = [float(v) for k, v in metrics.items()
            if k != "error" and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]
    return bool(vals) and sum(vals) / len(vals) >= threshold


def _who(exc: BaseException) -> str:
    bridge = sys.modules.get("glia_program_bridge")
    if bridge is not None and isinstance(exc, bridge.ProgramError):
        return "program"
    return "evaluator"


def main(spec: dict) -> int:
    out = {"ok": False, "stages": []}
    start = time.perf_counter()
    try:
        sys.path.insert(0, os.path.dirname(os.path.abspath(spec["evaluator"])))
        try:
            mod_spec = importlib.util.spec_from_file_location("evaluation_module", spec["evaluator"])
            module = importlib.util.module_from_spec(mod_spec)
            sys.modules["evaluation_module"] = module
            mod_spec.loader.exec_module(module)
        except BaseException as exc:  # noqa: BLE001
            out.update(phase="load", who=_who(exc), type=type(exc).__name__, message=str(exc)[:4000],
                       traceback=traceback.format_exc()[-12000:])
            return 0
        kwargs = spec.get("kwargs") or {}
        cascade = spec.get("cascade")
        if cascade and hasattr(module, "evaluate_stage1"):
            stages = [n for n in ("evaluate_stage1", "evaluate_stage2", "evaluate_stage3") if hasattr(module, n)]
        elif hasattr(module, "evaluate"):
            stages = ["evaluate"]
        else:
            out.update(phase="load", who="evaluator", type="AttributeError",
                       message=f"{os.path.basename(spec['evaluator'])} defines no evaluate(program_path) function")
            return 0
        metrics: dict = {}
        artifacts: dict = {}
        for i, name in enumerate(stages):
            fn = getattr(module, name)
            t0 = time.perf_counter()
            try:
                result = fn(spec["program"], **kwargs) if name == "evaluate" else fn(spec["program"])
            except BaseException as exc:  # noqa: BLE001
                out.update(phase=name, who=_who(exc), type=type(exc).__name__, message=str(exc)[:4000],
                           traceback=traceback.format_exc()[-12000:],
                           program_traceback=getattr(exc, "program_traceback", ""), metrics=_plain(metrics),
                           artifacts=_plain(artifacts))
                return 0
            m, a, kind = _split(result)
            out["stages"].append({"stage": name, "s": time.perf_counter() - t0, "returned": kind})
            if kind not in ("dict", "EvaluationResult"):
                out.update(phase=name, who="evaluator", type="TypeError",
                           message=f"{name} returned a {kind}, not a dict of metrics nor an EvaluationResult")
                return 0
            if i == 0:
                metrics, artifacts = dict(m), dict(a)
            else:  # OpenEvolve merges numeric metrics only, the later stage's winning
                metrics.update({k: v for k, v in m.items() if isinstance(v, (int, float)) and k != "error"})
                artifacts.update(a)
            # the next stage runs when this one's merged metrics pass its threshold (OpenEvolve reads two)
            if i + 1 < len(stages) and not (i < min(2, len(cascade)) and _passes(metrics, cascade[i])):
                out["cascade_stopped_after"] = name
                break
        out.update(ok=True, metrics=_plain(metrics), artifacts=_plain(artifacts))
        return 0
    finally:
        out["evaluator_s"] = time.perf_counter() - start
        tmp = spec["result"] + ".part"
        with open(tmp, "w") as f:
            json.dump(out, f, allow_nan=True, default=str)
        os.replace(tmp, spec["result"])


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
