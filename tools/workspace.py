"""Workspace tools: read, write and patch files, and run shell commands, all confined to the run's workspace."""

from __future__ import annotations

import errno
import fnmatch
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

from glia.simulator.harness.sandbox import DATA_DIR
from glia.simulator.isolation import confine

MAX_READ = 20_000
MAX_OUTPUT = 8_000
SHELL_MEMORY_MB = 4096   # for a command's whole process tree together, and for each of its processes
SHELL_PROCESSES = 128    # at once, where a cgroup can count them (else the PID namespace's ~300)


class WorkspaceError(ValueError):
    """A tool was asked to do something outside what it may do; the message says what."""


def inside_workspace(workspace: Path, path: str) -> Path:
    """``path`` inside the workspace, or an error."""
    root = workspace.resolve()
    full = (root / path).resolve()
    if not full.is_relative_to(root):
        raise WorkspaceError(f"{path!r} is outside the workspace")
    return full


# -- opening files the shell can change -------------------------------------------------------------------------
# The shell writes anywhere in the workspace: any name there may be a symbolic link (to a file outside, or dangling,
# so that creating it creates a file elsewhere), a FIFO (an open that never returns) or a huge file. The harness
# opens workspace files only through these: each directory of the path and the file itself opened without following
# links (O_NOFOLLOW, relative to the directory's descriptor, so no component can be swapped for a link meanwhile),
# regular files only, sizes capped.
_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC


def _parts(path: str) -> list[str]:
    parts = [p for p in Path(path).parts if p not in ("", ".")]
    if Path(path).is_absolute() or not parts or any(p == ".." for p in parts):
        raise WorkspaceError(f"{path!r} is outside the workspace (give a path relative to the workspace, "
                             "without '..')")
    return parts


def _open_dir(root: Path, parts: list[str], create: bool) -> int:
    """A descriptor of the directory ``root/parts...``, no component followed if it is a link."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW)
    try:
        for part in parts:
            try:
                nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                os.mkdir(part, 0o755, dir_fd=fd)
                nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = nxt
        return fd
    except BaseException:
        os.close(fd)
        raise


def _refusal(path: str, exc: OSError) -> WorkspaceError:
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        return WorkspaceError(f"{path!r} is (or goes through) a symbolic link or not a directory: the harness follows "
                              "no link in the workspace")
    if isinstance(exc, FileNotFoundError):
        return WorkspaceError(f"no file {path!r} in the workspace")
    return WorkspaceError(f"{path!r}: {exc.strerror}")


def read_inside(root: Path, path: str, limit: int = 1 << 20) -> bytes:
    """The bytes of the regular file ``path`` in ``root``, following no link; at most ``limit`` bytes."""
    parts = _parts(path)
    try:
        dfd = _open_dir(root, parts[:-1], create=False)
        try:
            fd = os.open(parts[-1], os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW, dir_fd=dfd)
        finally:
            os.close(dfd)
    except OSError as exc:
        raise _refusal(path, exc) from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise WorkspaceError(f"{path!r} is not a regular file")
        if st.st_size > limit:
            raise WorkspaceError(f"{path!r} is {st.st_size} bytes, more than the {limit} the harness reads")
        return f.read(limit)


def write_inside(root: Path, path: str, data: bytes, replace: bool = True) -> bool:
    """Write ``data`` to ``path`` in ``root`` as a new regular file (whatever was at that name, a link included, is
    removed first; with ``replace`` False an existing entry is kept and False returned), following no link."""
    parts = _parts(path)
    try:
        dfd = _open_dir(root, parts[:-1], create=True)
    except OSError as exc:
        raise _refusal(path, exc) from None
    try:
        try:
            os.stat(parts[-1], dir_fd=dfd, follow_symlinks=False)
            if not replace:
                return False
            os.unlink(parts[-1], dir_fd=dfd)
        except FileNotFoundError:
            pass
        except IsADirectoryError:
            raise WorkspaceError(f"{path!r} is a directory") from None
        try:
            fd = os.open(parts[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644, dir_fd=dfd)
        except OSError as exc:
            raise _refusal(path, exc) from None
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return True
    finally:
        os.close(dfd)


def read_file(workspace: Path, path: str, max_chars: int = MAX_READ) -> str:
    text = read_inside(workspace, path, limit=max(1 << 20, 4 * max_chars)).decode(errors="replace")
    return text if len(text) <= max_chars else text[:max_chars] + f"\n... (cut at {max_chars} characters)"


def _check_editable(path: str, editable: list[str]) -> None:
    if not any(fnmatch.fnmatch(path, pat) for pat in editable):
        raise WorkspaceError(f"{path!r} is not among the files this task may change: {', '.join(editable)}")


def write_file(workspace: Path, path: str, content: str, editable: list[str]) -> str:
    _check_editable(path, editable)
    write_inside(workspace, path, content.encode())
    return f"wrote {path} ({len(content)} characters)"


def patch_file(workspace: Path, path: str, old: str, new: str, editable: list[str]) -> str:
    """Replace the one occurrence of ``old`` with ``new``."""
    _check_editable(path, editable)
    text = read_inside(workspace, path).decode()
    count = text.count(old)
    if count != 1:
        raise WorkspaceError(f"the text to replace occurs {count} times in {path}; it must occur exactly once")
    write_inside(workspace, path, text.replace(old, new).encode())
    return f"patched {path}"


SANDBOX_NOTE = ("the shell is confined: it reads the workspace and the system's program directories only, writes in "
                "the workspace only, has no network, and every process it starts ends with the command")
_DENIED = re.compile(r"Permission denied|Operation not permitted")


def shell_box(root: Path, timeout_s: float) -> confine.Box:
    """Where a shell command may be: the workspace (read and write), the system's programs and the Python
    installation (read), nothing else; no sockets; about 300 processes; memory, CPU time and file sizes capped."""
    return confine.Box(profile="shell", read=[*confine.python_roots(), *confine.SYSTEM_READ], hide=[DATA_DIR],
                       write=[str(root)], cwd=str(root), memory_mb=SHELL_MEMORY_MB, cpu_s=timeout_s + 1, file_mb=256,
                       open_files=512, processes=confine.PID_MAX_MIN, tree_memory_mb=SHELL_MEMORY_MB,
                       tree_processes=SHELL_PROCESSES)


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
    if code == confine.TREE_EXIT and "glia-confine: killed with every process it started: " in stderr:
        why = stderr.split("glia-confine: killed with every process it started: ", 1)[1].splitlines()[0]
        raise WorkspaceError(f"the command was stopped with every process it started: {why}")
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
