"""The adversarial corpus (``tests/adversarial/``): one file per trick model-written code might try, each contained,
with the exact error the user sees. Policy files run through ``run_seeds`` as a design session runs them; shell files
through the shell tool. A file's header says what it tries (``# tries:``), which layer of the stack it is a policy of
(``# layer:`` router by default, batch or autoscaler: every layer is contained alike) and what the user sees
(``# kind:`` or ``# expect:``, then ``# message:`` lines; ``#+`` continues a line). Keep it growing: a new door is a
new file."""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import small_config

from glia.simulator import AutoscalingConfig, guard
from glia.simulator.sandbox import DATA_DIR, run_seeds
from glia.tools.workspace import SANDBOX_NOTE, WorkspaceError, shell

CORPUS = Path(__file__).parent / "adversarial"
POLICIES = sorted(p.name for p in CORPUS.glob("*.py"))
SHELLS = sorted(p.name for p in CORPUS.glob("*.sh"))
CONFIG = small_config([(i * 0.05, 30 + i, 20) for i in range(40)], num_replicas=2, num_blocks=200)
SCALING = CONFIG.replace(autoscaler=AutoscalingConfig(interval_s=0.25, cold_start_s=0.2, min_replicas=1,
                                                      max_replicas=4))
LEFTOVER = "sleep 1007"  # the processes the shell files try to leave behind


def header(path: Path) -> tuple[dict[str, str], str, str]:
    """(fields, expected message, body) of a corpus file."""
    fields, lines, body = {}, [], []
    for line in path.read_text().splitlines(True):
        if line.startswith("# message:"):
            lines.append(line[len("# message:"):].rstrip("\n").removeprefix(" "))
        elif line.startswith("#+ "):
            lines[-1] += line[3:].rstrip("\n")
        elif line.startswith("# ") and ":" in line and not body:
            key, _, value = line[2:].partition(":")
            fields[key.strip()] = fields.get(key.strip(), "") + value.strip()
        else:
            body.append(line)
    return fields, "\n".join(lines), "".join(body)


def fill(text: str, **values: str) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def leftovers() -> list[int]:
    """Processes of the sandbox still alive after its command returned (it must leave none)."""
    found = []
    for d in os.listdir("/proc"):
        try:
            if d.isdigit() and LEFTOVER in Path(f"/proc/{d}/cmdline").read_bytes().replace(b"\0", b" ").decode():
                found.append(int(d))
        except OSError:
            pass
    return found


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """The user's home for this corpus (with a key to steal), outside /tmp so that the sandbox's own /tmp does not
    hide it: only Landlock keeps it out."""
    path = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="glia-test-home-"))
    (path / ".ssh").mkdir()
    (path / ".ssh" / "id_rsa").write_text("PRIVATE KEY")
    real, os.environ["HOME"] = os.environ.get("HOME"), str(path)
    yield path
    if real is None:
        os.environ.pop("HOME")
    else:
        os.environ["HOME"] = real
    shutil.rmtree(path)


@pytest.fixture(scope="module")
def policy_outcomes(home, tmp_path_factory):
    """Every policy file of the corpus, run four at a time."""
    folder = tmp_path_factory.mktemp("policies")
    paths = {}
    for name in POLICIES:
        paths[name] = folder / name
        paths[name].write_text(fill((CORPUS / name).read_text(), home=str(home)))
    run_seeds(CONFIG, "llq", [0])  # start the process server once, before the threads

    def run(name):
        fields = header(CORPUS / name)[0]
        timeout, layer, path = float(fields.get("timeout", 20)), fields.get("layer", "router"), str(paths[name])
        config, router = {"router": (CONFIG, path), "batch": (CONFIG.with_stack(batch=path), "llq"),
                          "autoscaler": (SCALING.with_stack(autoscaler=path), "llq")}[layer]
        return name, run_seeds(config, router, [0], timeout_s=timeout, memory_mb=2048)[0]
    with ThreadPoolExecutor(4) as pool:
        return {name: (paths[name], outcome) for name, outcome in pool.map(run, POLICIES)}


@pytest.mark.parametrize("name", POLICIES)
def test_a_policy_trick_is_contained_and_the_user_sees_its_error(name, policy_outcomes, home):
    fields, message, _ = header(CORPUS / name)
    path, outcome = policy_outcomes[name]
    assert fields["tries"], f"{name}: say what it tries"
    if fields["kind"] == "ok":
        assert outcome.error is None and outcome.summary["num_requests"] == 40
    else:
        assert outcome.error == {"kind": fields["kind"], "message": fill(
            message, policy=str(path), home=str(home), allowed=guard.allowed_imports())}
    assert outcome.isolation == "landlock+userns+seccomp"
    assert sorted(p.name for p in home.iterdir()) == [".ssh"]  # nothing written into the home
    assert not Path(pwd.getpwuid(os.getuid()).pw_dir, "glia-was-here.txt").exists()  # nor the real one


@pytest.mark.parametrize("name", SHELLS)
def test_a_shell_escape_is_contained_and_the_user_sees_its_error(name, home, tmp_path, monkeypatch):
    fields, message, command = header(CORPUS / name)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    values = {"real_home": pwd.getpwuid(os.getuid()).pw_dir, "data": DATA_DIR, "home": str(home)}
    try:
        got, kind = shell(tmp_path, fill(command, **values), timeout_s=float(fields.get("timeout", 10))), "output"
    except WorkspaceError as exc:
        got, kind = str(exc), "error"
    assert fields["tries"], f"{name}: say what it tries"
    assert (kind, got) == (fields["expect"], fill(message, note=SANDBOX_NOTE, ws=str(tmp_path), **values))
    assert leftovers() == []
    assert not Path("/var/tmp/glia-was-here.txt").exists() and "PRIVATE KEY" not in got and "sk-test" not in got
