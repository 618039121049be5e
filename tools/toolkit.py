"""The tools the agents call, with their argument schemas, and one dispatcher that runs a tool call and turns every
failure into an error the model can act on (never an exception that kills the run)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from langchain_core.tools import StructuredTool
from pydantic import BaseModel, Field, ValidationError

from glia.simulator.metrics import jsonable

from .simulation import run_simulation
from .telemetry_query import query_telemetry
from .workspace import WorkspaceError, patch_file, read_file, shell, write_file


@dataclass(frozen=True)
class ToolContext:
    """Where a context's tools act: its workspace, the shared telemetry database, the task, the context id, and the
    run (thread) id, which makes the experiments' telemetry ids unique in a database that several runs share."""

    workspace: Path
    db: Path
    task: dict
    context_id: str
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
    "shell": (ShellArgs, "Run a bash command in the workspace (timeout, capped output, no secrets, no paths outside)."),
    "read_file": (ReadFileArgs, "Read a file in the workspace."),
    "write_file": (WriteFileArgs, "Write a whole file in the workspace (only the task's editable files)."),
    "patch_file": (PatchFileArgs, "Replace one exact occurrence of a text in a workspace file."),
    "finish": (FinishArgs, "Stop experimenting and propose the best design to the supervisor."),
}

RESEARCHER_TOOLS = tuple(SPECS)
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
            res = run_simulation(ws, ctx.db, parsed.candidate or task["design"]["file"], exp_id,
                                 task["benchmark"]["workload"], task["benchmark"]["seeds"], context=ctx.context_id,
                                 layer=task["design"].get("layer", "router"), fixed=task.get("stack"),
                                 run_id=f"{ctx.run}/{exp_id}" if ctx.run else exp_id)
            res.update(label=parsed.label, hypothesis=parsed.hypothesis)
            text = json.dumps(jsonable({k: v for k, v in res.items() if k not in ("snapshot", "workload")}))
            return ToolResult(text, bool(res.get("error")), res)
        if name == "query_telemetry":
            return ToolResult(query_telemetry(ctx.db, parsed.sql))
        if name == "shell":
            return ToolResult(shell(ws, parsed.command))
        if name == "read_file":
            return ToolResult(read_file(ws, parsed.path))
        if name == "write_file":
            return ToolResult(write_file(ws, parsed.path, parsed.content, editable))
        return ToolResult(patch_file(ws, parsed.path, parsed.old, parsed.new, editable))
    except (WorkspaceError, ValueError, FileNotFoundError, OSError) as exc:
        return ToolResult(f"ERROR: {exc}", True)
