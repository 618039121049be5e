"""Tools the agents use: simulations, telemetry SQL, a confined shell, and workspace files. Each name is imported
when first used (the command line imports some of them and must not load LangChain); ``programs/`` runs program
tasks' evaluators."""

from typing import TYPE_CHECKING

from glia.simulator.lazy import lazy_exports

_EXPORTS = {
    "run_baseline": ".simulation", "run_simulation": ".simulation", "query_telemetry": ".telemetry_query",
    "schema": ".telemetry_query", "SPECS": ".toolkit", "ToolContext": ".toolkit", "ToolResult": ".toolkit",
    "execute": ".toolkit", "langchain_tools": ".toolkit", "WorkspaceError": ".workspace", "patch_file": ".workspace",
    "read_file": ".workspace", "shell": ".workspace", "write_file": ".workspace",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from glia.tools.simulation import run_baseline, run_simulation
    from glia.tools.telemetry_query import query_telemetry, schema
    from glia.tools.toolkit import SPECS, ToolContext, ToolResult, execute, langchain_tools
    from glia.tools.workspace import WorkspaceError, patch_file, read_file, shell, write_file

__all__ = ["SPECS", "ToolContext", "ToolResult", "WorkspaceError", "execute", "langchain_tools", "patch_file",
           "query_telemetry", "read_file", "run_baseline", "run_simulation", "schema", "shell", "write_file"]
