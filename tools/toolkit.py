"""The tools the agents call, with their argument schemas, and one dispatcher that runs a tool call and turns every
failure into an error the model can act on (never an exception that kills the run)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from langchain_core.tools import StructuredTool
from pydantic import BaseModel, Field, ValidationError

import glia.simulator as simulator_package
from glia.simulator.metrics import KEY_METRICS, OVER_SEEDS, fmt
from glia.tools.evaluator import Evaluator
from glia.tools.simulation import run_simulation
from glia.tools.telemetry_query import query_telemetry
from glia.tools.workspace import WorkspaceError, patch_file, read_file, shell, write_file


@dataclass(frozen=True)
class ToolContext:
    """Where a context's tools act: its workspace, the shared telemetry database, the task, the context id, and the
    run (thread) id, which makes the experiments' telemetry ids unique in a database that several runs share, and the
    evaluator its simulations go through."""

    workspace: Path
    db: Path
    task: dict
    context_id: str
    evaluator: Evaluator
    run: str = ""


class RunSimulationArgs(BaseModel):
    candidate: str = Field(default="", description="policy file in the workspace (default: the task's design file)")
    label: str = Field(default="", description="a short name for this experiment")
    hypothesis: str = Field(default="", description="id of the hypothesis this experiment tests, if any")


class QueryTelemetryArgs(BaseModel):
    sql: str = Field(description="one read-only SQL query on the telemetry database, or SCHEMA for the tables")


class ShellArgs(BaseModel):
    command: str = Field(description="a bash command, run in the workspace with a timeout")


class ReadFileArgs(BaseModel):
    path: str = Field(description="file path relative to the workspace")


class WriteFileArgs(BaseModel):
    path: str = Field(description="file path relative to the workspace (one of the task's editable files)")
    content: str = Field(description="the whole new content")


class PatchFileArgs(BaseModel):
    path: str = Field(description="file path relative to the workspace")
    old: str = Field(description="exact text to replace (must occur once)")
    new: str = Field(description="replacement text")


class FinishArgs(BaseModel):
    summary: str = Field(description="the design you propose and why it works, for the supervisor")


SPECS: dict[str, tuple[type[BaseModel], str]] = {
    "run_simulation": (RunSimulationArgs, "Run the candidate policy on the task's benchmark over its seeds "
                                          "(counts against the simulation budget); returns metrics with a 90% CI "
                                          "and a run id."),
    "query_telemetry": (QueryTelemetryArgs, "Read-only SQL on the telemetry database (tables runs, run_seeds, "
                                            "requests, replica_samples, scheduling_events); SCHEMA lists columns."),
    "shell": (ShellArgs, "Run a bash command in the workspace, confined: it reads only the workspace and system "
                         "programs, writes only in the workspace, has no network; timeout, capped output."),
    "read_file": (ReadFileArgs, "Read a file in the workspace, or an API page the prompt names "
                                "(simulator/policy/*_api.md)."),
    "write_file": (WriteFileArgs, "Write a whole file in the workspace (only the task's editable files)."),
    "patch_file": (PatchFileArgs, "Replace one exact occurrence of a text in a workspace file."),
    "finish": (FinishArgs, "Stop experimenting and propose the best design to the supervisor."),
}

RESEARCHER_TOOLS = tuple(SPECS)
# the API pages the prompts name (simulator/policy/*_api.md)
API_DIR = Path(simulator_package.__file__).parent / "policy"


def api_page(path: str) -> Path | None:
    """The simulator's API page a prompt names (``simulator/policy/batch_policy_api.md``, or just its file name),
    readable with read_file although it is not in the workspace: it documents what a design may use."""
    name = Path(path.strip().lstrip("./")).name
    page = API_DIR / name
    return page if name.endswith("_api.md") and page.is_file() else None
ANALYST_TOOLS = ("query_telemetry",)


def langchain_tools(names: tuple[str, ...]) -> list[StructuredTool]:
    """Tool objects for ``bind_tools`` (the schemas; execution goes through ``execute``)."""
    def unavailable(**kwargs):
        raise RuntimeError("tools are executed by the graph's tools node")
    return [StructuredTool.from_function(func=unavailable, name=n, description=SPECS[n][1], args_schema=SPECS[n][0])
            for n in names]


@dataclass
class ToolResult:
    text: str
    error: bool = False
    experiment: dict | None = None


def execute(ctx: ToolContext, name: str, args: dict, call_id: str, sims_left: int) -> ToolResult:
    """Run one tool call. ``call_id`` makes a simulation's experiment id; ``sims_left`` is the budget."""
    if name not in SPECS or name == "finish":
        return ToolResult(f"ERROR: unknown tool {name!r}; available: {', '.join(n for n in SPECS if n != 'finish')}",
                          True)
    try:
        parsed = SPECS[name][0].model_validate(args if isinstance(args, dict) else {})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors())
        return ToolResult(f"ERROR: bad arguments for {name}: {problems}", True)
    ws, task = ctx.workspace, ctx.task
    editable = task["design"]["editable"]
    try:
        if name == "run_simulation":
            if sims_left <= 0:
                return ToolResult("ERROR: the simulation budget is used up; call finish with your best design", True)
            exp_id = f"{ctx.context_id}-{call_id}"
            if task["design"].get("layer") == "program":  # the task's evaluator judges a program
                from glia.tools.programs.experiment import experiment_text as program_text
                from glia.tools.programs.experiment import run_program
                res = run_program(ws, ctx.evaluator, task, parsed.candidate or task["design"]["file"], exp_id,
                                  context=ctx.context_id, run_id=f"{ctx.run}/{exp_id}" if ctx.run else exp_id)
                res.update(label=parsed.label, hypothesis=parsed.hypothesis)
                left = sims_left if res.get("baseline") else sims_left - 1  # the starter's baseline: not charged
                return ToolResult(program_text(res, left, task), bool(res.get("error")), res)
            res = run_simulation(ws, ctx.evaluator, parsed.candidate or task["design"]["file"], exp_id,
                                 context=ctx.context_id, run_id=f"{ctx.run}/{exp_id}" if ctx.run else exp_id)
            res.update(label=parsed.label, hypothesis=parsed.hypothesis)
            return ToolResult(experiment_text(res, sims_left - 1, task), bool(res.get("error")), res)
        if name == "query_telemetry":
            return ToolResult(query_telemetry(ctx.db, parsed.sql))
        if name == "shell":
            return ToolResult(shell(ws, parsed.command))
        if name == "read_file":
            page = api_page(parsed.path)
            if page is not None and not (ws / parsed.path).is_file():
                return ToolResult(page.read_text())
            return ToolResult(read_file(ws, parsed.path))
        if name == "write_file":
            return ToolResult(write_file(ws, parsed.path, parsed.content, editable))
        return ToolResult(patch_file(ws, parsed.path, parsed.old, parsed.new, editable))
    except (WorkspaceError, ValueError, FileNotFoundError, OSError) as exc:
        return ToolResult(f"ERROR: {exc}", True)


def experiment_text(res: dict, sims_left: int, task: dict | None = None) -> str:
    """An experiment's result as the researcher reads it: its id, the task's objective and constrained metric
    first, then the key figures (or the error), whether the constraint held, the budget."""
    head = f"experiment {res['id']}" + (f" ({res['label']})" if res.get("label") else "")
    obj = (task or {}).get("objective") or {}
    metric, c = obj.get("metric", "mean_e2e_s"), obj.get("constraint")
    if res.get("error"):
        # the failing line is quoted by run_simulation, from the code that ran (never from a file an error names)
        body = f"ERROR {res['error']['kind']}: {res['error']['message']}"
    else:
        m = res["metrics"]
        keys = dict.fromkeys([metric, *([c["metric"]] if c else []), *KEY_METRICS])
        body = ", ".join(f"{k} {fmt(m.get(k), 3)}" for k in keys if k in m)
        if len(res.get("seeds") or []) > 1:  # what a percentile over several seeds is (the diagnostics pool them)
            body += f" ({OVER_SEEDS})"
        ci = res.get("mean_e2e_ci90") if metric == "mean_e2e_s" else (res.get("ci90") or {}).get(metric)
        if ci:
            body += f"; 90 % CI of {metric} [{fmt(ci[0])}, {fmt(ci[1])}] over seeds {res['seeds']}"
        if c:
            body += "; " + _constraint_result(c, m.get(c["metric"]))
    return f"{head}: {body}. Simulations left: {sims_left}."


def _constraint_result(c: dict, value: float | None) -> str:
    bound = c["max"] if c.get("max") is not None else c["min"]
    text = f"{c['metric']} {'<=' if c.get('max') is not None else '>='} {bound:g}"
    if value is None:
        return f"constraint {text}: not measured (INFEASIBLE)"
    broken = value > c["max"] if c.get("max") is not None else value < c["min"]
    return (f"constraint {text} BROKEN by {100 * abs(value - bound) / abs(bound or 1):.1f} % (INFEASIBLE: it "
            "cannot be the best design)" if broken else f"constraint {text} met")
