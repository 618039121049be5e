"""Workspace tools: read, write and patch files, and run shell commands, all confined to the run's workspace."""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import subprocess
from pathlib import Path

MAX_READ = 20_000
MAX_OUTPUT = 8_000
SECRET = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL|AUTH", re.IGNORECASE)


class WorkspaceError(ValueError):
    """A tool was asked to do something outside what it may do; the message says what."""


def inside_workspace(workspace: Path, path: str) -> Path:
    """``path`` inside the workspace, or an error."""
    root = workspace.resolve()
    full = (root / path).resolve()
    if not full.is_relative_to(root):
        raise WorkspaceError(f"{path!r} is outside the workspace")
    return full


def read_file(workspace: Path, path: str, max_chars: int = MAX_READ) -> str:
    full = inside_workspace(workspace, path)
    if not full.is_file():
        raise WorkspaceError(f"no file {path!r} in the workspace")
    text = full.read_text(errors="replace")
    return text if len(text) <= max_chars else text[:max_chars] + f"\n... (cut at {max_chars} characters)"


def _check_editable(path: str, editable: list[str]) -> None:
    if not any(fnmatch.fnmatch(path, pat) for pat in editable):
        raise WorkspaceError(f"{path!r} is not among the files this task may change: {', '.join(editable)}")


def write_file(workspace: Path, path: str, content: str, editable: list[str]) -> str:
    _check_editable(path, editable)
    full = inside_workspace(workspace, path)
    full.parent.mkdir(parents=True, exist_ok=True)
    full.write_text(content)
    return f"wrote {path} ({len(content)} characters)"


def patch_file(workspace: Path, path: str, old: str, new: str, editable: list[str]) -> str:
    """Replace the one occurrence of ``old`` with ``new``."""
    _check_editable(path, editable)
    full = inside_workspace(workspace, path)
    if not full.is_file():
        raise WorkspaceError(f"no file {path!r} in the workspace")
    text = full.read_text()
    count = text.count(old)
    if count != 1:
        raise WorkspaceError(f"the text to replace occurs {count} times in {path}; it must occur exactly once")
    full.write_text(text.replace(old, new))
    return f"patched {path}"


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not SECRET.search(k)}


def shell(workspace: Path, command: str, timeout_s: float = 60.0, max_output: int = MAX_OUTPUT) -> str:
    """Run ``command`` with bash in the workspace; paths outside it are refused; output capped."""
    root = workspace.resolve()
    try:
        tokens = shlex.split(command)
    except ValueError as exc:
        raise WorkspaceError(f"cannot parse the command: {exc}") from None
    for tok in tokens:
        for part in re.split(r"[=:,]", tok):
            if ".." in Path(part).parts:
                raise WorkspaceError(f"{part!r} leaves the workspace ('..' is not allowed)")
            if part.startswith("/") and not Path(part).resolve().is_relative_to(root) and not \
                    part.startswith(("/usr/", "/bin/", "/dev/null")):
                raise WorkspaceError(f"{part!r} is outside the workspace")
            if part.startswith("~"):
                raise WorkspaceError(f"{part!r} is outside the workspace")
    try:
        proc = subprocess.run(["bash", "-c", command], cwd=root, env=_clean_env(), capture_output=True, text=True,
                              timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise WorkspaceError(f"the command did not finish within {timeout_s:g} s (killed)") from None
    out = (proc.stdout + ("\n[stderr]\n" + proc.stderr if proc.stderr else "")).strip()
    if len(out) > max_output:
        out = out[:max_output] + f"\n... (cut at {max_output} characters)"
    return f"exit code {proc.returncode}\n{out}"
