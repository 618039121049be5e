"""Workspace tools: read, write and patch files, and run shell commands, all confined to the run's workspace."""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from glia.simulator import confine
from glia.simulator.sandbox import DATA_DIR

MAX_READ = 20_000
MAX_OUTPUT = 8_000


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


SANDBOX_NOTE = ("the shell is confined: it reads the workspace and the system's program directories only, writes in "
                "the workspace only, has no network, and every process it starts ends with the command")
_DENIED = re.compile(r"Permission denied|Operation not permitted")


def shell_box(root: Path, timeout_s: float) -> confine.Box:
    """Where a shell command may be: the workspace (read and write), the system's programs and the Python
    installation (read), nothing else; no sockets; about 300 processes; memory, CPU time and file sizes capped."""
    return confine.Box(profile="shell", read=[*confine.python_roots(), *confine.SYSTEM_READ], hide=[DATA_DIR],
                       write=[str(root)], cwd=str(root), memory_mb=4096, cpu_s=timeout_s + 1, file_mb=256,
                       open_files=512, processes=confine.PID_MAX_MIN)


def shell(workspace: Path, command: str, timeout_s: float = 60.0, max_output: int = MAX_OUTPUT,
          allow_unconfined: bool = False) -> str:
    """Run ``command`` with bash in the workspace, confined (``confine.py``: Landlock, namespaces, seccomp, limits),
    with a scrubbed environment; the whole process tree is killed at the timeout; output capped. A command the
    sandbox stopped is an error that says so."""
    root = workspace.resolve()
    try:
        iso = confine.require("shell", allow_unconfined)
    except confine.Unconfined as exc:
        raise WorkspaceError(str(exc)) from None
    box = shell_box(root, timeout_s)
    env = confine.safe_env(home=str(root), extra_path=[str(Path(sys.prefix) / "bin")])
    private_tmp = None
    if not iso.pidns:  # no private /tmp: a temporary directory of its own
        private_tmp = tempfile.mkdtemp(prefix="glia-shell-")
        box.write.append(private_tmp)
        env["TMPDIR"] = private_tmp
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(confine.command(box, ["bash", "-c", command], timeout_s, iso), cwd=root, env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True)
        try:
            code = proc.wait(timeout=timeout_s + 10)
        except subprocess.TimeoutExpired:  # the launcher itself is stuck: kill its session
            os.killpg(proc.pid, signal.SIGKILL)
            code = proc.wait()
        finally:
            if private_tmp:
                shutil.rmtree(private_tmp, ignore_errors=True)
        stdout, stderr = _read(out, max_output), _read(err, max_output)
    if "glia-confine: cannot start the sandbox" in stderr:
        raise WorkspaceError(f"the sandbox could not start, so the command did not run: {stderr.strip()}")
    if code == confine.TIMEOUT_EXIT and "glia-confine: killed at" in stderr:
        raise WorkspaceError(f"the command did not finish within {timeout_s:g} s (killed, with every process it "
                             "started)")
    text = (stdout + ("\n[stderr]\n" + stderr if stderr else "")).strip()
    if len(text) > max_output:
        text = text[:max_output] + f"\n... (cut at {max_output} characters)"
    if code != 0 and _DENIED.search(stderr) and iso.confined("shell"):
        raise WorkspaceError(f"the sandbox stopped the command (exit code {code}): {SANDBOX_NOTE}\n{text}")
    warning = "" if iso.confined("shell") else confine.describe(iso, "shell") + "\n"
    return f"{warning}exit code {code}\n{text}"


def _read(f, limit: int) -> str:
    f.seek(0)
    return f.read(limit * 4 + 1).decode(errors="replace")
