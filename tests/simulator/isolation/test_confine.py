"""Isolation: each layer holds on its own (the audit hook without OS confinement, the OS mechanisms without the hook,
each mechanism alone), the probe finds what this machine offers, and a machine without enough confinement refuses
model-written code with a message that says what is missing and how to proceed, unless the user allows it."""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from glia.simulator.harness.runner import run_benchmark
from glia.simulator.harness.sandbox import Limits, _enough, policy_box
from glia.simulator.isolation import confine
from glia.simulator.policy import guard
from glia.tools.workspace import WorkspaceError, shell
from tests.support.helpers import small_config

ATTEMPTS = {
    "write home": "open(HOME + '/glia-was-here.txt', 'w').write('x')",
    "read key": "open(HOME + '/.ssh/id_rsa').read()",
    "read etc": "open('/etc/hostname').read()",
    "connect localhost": "import _socket; _socket.socket().connect(('127.0.0.1', 8765))",
    "connect external": "import _socket; _socket.socket().connect(('93.184.216.34', 80))",
    "fork": "import os; pid = os.fork(); pid == 0 and os._exit(0)",
    "run a program": "import os; os.execv('/bin/true', ['true'])",
    "signal the parent": "import os; os.kill(os.getppid(), 0)",
    "ctypes": "import ctypes; ctypes.string_at(id(1), 8)",
    "gc": "import gc; gc.get_objects()",
    "frames": "import sys; sys._getframe().f_back",
    "new namespace": "from glia.simulator.isolation import confine; confine._syscall('unshare', "
                     "confine.ctypes.c_int(1 << 28))",
}
CONFIG = small_config([(i * 0.05, 30 + i, 20) for i in range(40)], num_replicas=2, num_blocks=200)
POLICY = ("from glia.simulator import BaseGlobalScheduler\n\nclass P(BaseGlobalScheduler):\n    def schedule(self):\n"
          "        return [(0, self._request_queue.pop()) for _ in range(len(self._request_queue))]\n")


def _child(conn, home: str, hook: bool, use: dict, only: tuple[str, ...]) -> None:
    iso = confine.available()
    box = dataclasses.replace(policy_box(Limits(30, 2048)), use=use)
    if any(use.values()):
        confine.apply(box, iso)
    if hook:
        guard.install_audit_hook(["policy.py"], box.read)
    out = {}
    for name, code in ATTEMPTS.items():
        if only and name not in only:
            continue
        try:
            exec(compile(code, "policy.py", "exec"), {"HOME": home})  # as if the policy file ran it
            out[name] = "done"
        except guard.ForbiddenCode as exc:
            out[name] = "refused: " + str(exc).split(":")[0]
        except OSError as exc:
            out[name] = f"OSError {exc.errno} ({os.strerror(exc.errno)})"
    conn.send(out)


def attempt(home: Path, hook: bool, only: tuple[str, ...] = (), **use: bool) -> dict[str, str]:
    """What each attempt (or those in ``only``) gives in a child process with the audit hook (or not) and the OS
    mechanisms in ``use``."""
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_child, args=(child, str(home), hook, {m: use.get(m, False) for m in confine.MECHANISMS},
                                         only))
    p.start()
    child.close()
    assert parent.poll(30), "the child sent nothing"
    out = parent.recv()
    p.join(10)
    return out


@pytest.fixture
def home():
    path = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="glia-test-home-"))
    (path / ".ssh").mkdir()
    (path / ".ssh" / "id_rsa").write_text("PRIVATE KEY")
    yield path
    shutil.rmtree(path)


def test_the_audit_hook_alone_refuses_every_attempt(home):
    assert attempt(home, hook=True) == {
        "write home": f"refused: the policy tried to write {home}/glia-was-here.txt",
        "read key": f"refused: the policy tried to read {home}/.ssh/id_rsa",
        "read etc": "refused: the policy tried to read /etc/hostname",
        "connect localhost": "refused: the policy tried to use the network (socket.__new__)",
        "connect external": "refused: the policy tried to use the network (socket.__new__)",
        "fork": "refused: the policy tried to start a process (os.fork)",
        "run a program": "refused: the policy tried to start a process (os.exec)",
        "signal the parent": "refused: the policy tried to send a signal (os.kill)",
        "ctypes": "refused: the policy tried to use ctypes (ctypes.string_at)",
        "gc": "refused: the policy tried gc.get_objects",
        "frames": "refused: the policy tried to walk the interpreter's frames (sys._getframe)",
        "new namespace": "refused: the policy tried to use ctypes (ctypes.dlopen)"}
    assert not (home / "glia-was-here.txt").exists()


def test_the_os_layers_alone_stop_what_leaves_the_process(home):
    out = attempt(home, hook=False, landlock=True, userns=True, seccomp=True)
    denied, eperm = "OSError 13 (Permission denied)", "OSError 1 (Operation not permitted)"
    assert out == {"write home": denied, "read key": denied, "read etc": denied, "connect localhost": eperm,
                   "connect external": eperm, "fork": eperm, "run a program": eperm, "signal the parent": eperm,
                   # in-process introspection is the hook's and the static check's to refuse
                   "ctypes": "done", "gc": "done", "frames": "done", "new namespace": eperm}
    assert not (home / "glia-was-here.txt").exists()


def test_each_os_mechanism_holds_alone(home):
    unreachable = "OSError 101 (Network is unreachable)"
    assert attempt(home, False, ("connect localhost", "connect external"), userns=True) == {
        "connect localhost": unreachable, "connect external": unreachable}
    assert attempt(home, False, ("write home", "read key", "read etc"), landlock=True) == dict.fromkeys(
        ("write home", "read key", "read etc"), "OSError 13 (Permission denied)")
    assert attempt(home, False, ("fork", "run a program", "connect external", "signal the parent"), seccomp=True) == \
        dict.fromkeys(("fork", "run a program", "connect external", "signal the parent"),
                      "OSError 1 (Operation not permitted)")


def test_doctor_reports_the_isolation_level_and_what_is_missing(monkeypatch):
    monkeypatch.setenv(confine.DISABLE_ENV, "bwrap")  # whether bubblewrap is installed varies; it is optional
    try:
        assert confine.available(refresh=True) and confine.doctor_lines() == [
            "isolation: landlock+userns+pidns+seccomp",
            "  landlock yes (ABI 7)", "  userns   yes", "  pidns    yes", "  seccomp  yes",
            "  bwrap    no - disabled by GLIA_ISOLATION_DISABLE",
            "  candidate policies: confined", "  shell commands: confined"]
        monkeypatch.setenv(confine.DISABLE_ENV, "landlock,bwrap")
        confine.available(refresh=True)
        assert confine.doctor_lines()[:2] == ["isolation: userns+pidns+seccomp  (INSUFFICIENT for model-written code)",
                                              "  landlock no - disabled by GLIA_ISOLATION_DISABLE"]
        assert confine.doctor_lines()[-2:] == [
            "  candidate policies: NOT confined (filesystem confinement (Landlock) missing): refused unless "
            "--allow-unconfined",
            "  shell commands: NOT confined (filesystem confinement (Landlock or bubblewrap) missing): refused unless "
            "--allow-unconfined"]
    finally:
        monkeypatch.delenv(confine.DISABLE_ENV)
        confine.available(refresh=True)


WEAK_MACHINE = (
    "Glia will not run model-written candidate policies on this machine: it lacks filesystem confinement (Landlock). "
    "Strongest isolation available: userns+pidns+seccomp.\n"
    "  - landlock: disabled by GLIA_ISOLATION_DISABLE\n"
    "  - bwrap: disabled by GLIA_ISOLATION_DISABLE\n"
    "To proceed, enable Landlock and unprivileged user namespaces (or install bubblewrap), or run Glia in a disposable "
    "VM or container and pass --allow-unconfined (or set GLIA_ALLOW_UNCONFINED=1): the code then runs with only what "
    "is available, and every output says so.")


def test_without_filesystem_confinement_model_code_is_refused_unless_allowed(tmp_path, monkeypatch):
    policy = tmp_path / "p.py"
    policy.write_text(POLICY)
    monkeypatch.setenv(confine.DISABLE_ENV, "landlock,bwrap")
    monkeypatch.delenv(confine.ALLOW_ENV, raising=False)
    try:
        confine.available(refresh=True)
        refused = run_benchmark(str(policy), CONFIG, 1)
        assert refused.error == {"kind": "unconfined", "message": WEAK_MACHINE, "seed": 0, "failed_seeds": [0]}
        with pytest.raises(WorkspaceError) as err:
            shell(tmp_path, "true")
        assert str(err.value) == WEAK_MACHINE.replace("candidate policies", "shell commands").replace(
            "(Landlock)", "(Landlock or bubblewrap)")
        assert run_benchmark("llq", CONFIG, 1).error is None  # the built-in policies are trusted code
        allowed = run_benchmark(str(policy), CONFIG, 1, allow_unconfined=True)
        assert allowed.error is None and allowed.isolation == (
            "WARNING: ran UNCONFINED (filesystem confinement (Landlock) missing; only userns+pidns+seccomp), allowed "
            "by --allow-unconfined / GLIA_ALLOW_UNCONFINED")
        assert allowed.outcomes[0].isolation == "userns+seccomp"
        monkeypatch.setenv(confine.ALLOW_ENV, "1")
        assert shell(tmp_path, "echo hi").startswith("WARNING: ran UNCONFINED (filesystem confinement (Landlock or "
                                                    "bubblewrap) missing; only userns+pidns+seccomp)")
    finally:
        monkeypatch.delenv(confine.DISABLE_ENV)
        confine.available(refresh=True)


def test_a_seed_process_runs_policy_code_only_with_its_filesystem_and_network_confined():
    assert _enough("landlock+userns+seccomp") and _enough("landlock+seccomp") and _enough("landlock+userns")
    assert not _enough("userns+seccomp") and not _enough("landlock") and not _enough("none")


@pytest.mark.skipif(not (os.environ.get("GLIA_BWRAP") or shutil.which("bwrap")), reason="bubblewrap not installed")
def test_without_landlock_the_shell_is_confined_by_bubblewrap_when_installed(home, monkeypatch):
    monkeypatch.setenv(confine.DISABLE_ENV, "landlock")
    ws = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="glia-test-ws-"))
    try:
        assert confine.available(refresh=True).level == "userns+pidns+seccomp+bwrap"
        assert shell(ws, "echo hi > f; cat f") == "exit code 0\nhi"
        assert shell(ws, f"cat /etc/hostname {home}/.ssh/id_rsa") == (
            f"exit code 1\n[stderr]\ncat: /etc/hostname: No such file or directory\n"
            f"cat: {home}/.ssh/id_rsa: No such file or directory")
        with pytest.raises(WorkspaceError, match="Operation not permitted"):
            shell(ws, "echo hi > /dev/tcp/127.0.0.1/8765")
        shell(ws, "echo x > /var/tmp/glia-was-here.txt")  # lands in the sandbox's own root, which then vanishes
        assert not Path("/var/tmp/glia-was-here.txt").exists()
    finally:
        shutil.rmtree(ws)
        monkeypatch.delenv(confine.DISABLE_ENV)
        confine.available(refresh=True)
