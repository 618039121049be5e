"""Tools the agents use: simulations, telemetry SQL, a confined shell, and workspace files."""

from .simulation import run_baseline, run_simulation
from .telemetry_query import query_telemetry, schema
from .toolkit import SPECS, ToolContext, ToolResult, execute, langchain_tools
from .workspace import WorkspaceError, patch_file, read_file, shell, write_file

__all__ = ["SPECS", "ToolContext", "ToolResult", "WorkspaceError", "execute", "langchain_tools", "patch_file",
           "query_telemetry", "read_file", "run_baseline", "run_simulation", "schema", "shell", "write_file"]
