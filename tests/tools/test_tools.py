"""The agents' tools: confined to the workspace, read-only SQL with caps, errors the model can act on."""

from __future__ import annotations

from pathlib import Path

import pytest

from glia.simulator.harness.runner import run_benchmark
from glia.tools.evaluator import Evaluator, program_key
from glia.tools.simulation import confirm_hardened, describe_check, run_simulation
from glia.tools.telemetry_query import query_telemetry, schema
from glia.tools.toolkit import ToolContext, execute
from glia.tools.workspace import WorkspaceError, patch_file, read_file, shell, write_file
from tests.simulator.harness.test_hardened import TWO_FACED
from tests.support.helpers import small_config

STARTER = Path(__file__).parents[2] / "state" / "tasks" / "builtin" / "routing_starter.py"


def test_files_stay_inside_the_workspace_and_the_task_s_editable_list(tmp_path):
    write_file(tmp_path, "policy.py", "x = 1\n", ["policy.py"])
    assert read_file(tmp_path, "policy.py") == "x = 1\n"
    with pytest.raises(WorkspaceError, match="outside the workspace"):
        read_file(tmp_path, "../../etc/passwd")
    with pytest.raises(WorkspaceError, match="not among the files this task may change"):
        write_file(tmp_path, "other.py", "", ["policy.py"])
    patch_file(tmp_path, "policy.py", "x = 1", "x = 2", ["policy.py"])
    assert read_file(tmp_path, "policy.py") == "x = 2\n"
    with pytest.raises(WorkspaceError, match="occurs 0 times"):
        patch_file(tmp_path, "policy.py", "y", "z", ["policy.py"])


def test_shell_runs_confined_in_the_workspace_without_secrets(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("PRIVATE KEY")
    ws = tmp_path / "ws"
    ws.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    out = shell(ws, "pwd; echo ${OPENAI_API_KEY:-none} $HOME; echo made > made.txt")
    assert out == f"exit code 0\n{ws.resolve()}\nnone {ws.resolve()}" and (ws / "made.txt").read_text() == "made\n"
    with pytest.raises(WorkspaceError, match="the sandbox stopped the command") as err:
        shell(ws, "cat /etc/passwd")
    assert "cat: /etc/passwd: Permission denied" in str(err.value) and "root:" not in str(err.value)
    # the workspace sits under /tmp here: the sandbox's /tmp is private, so its neighbours do not exist in there
    assert shell(ws, f"cat {home}/.ssh/id_rsa") == (
        f"exit code 1\n[stderr]\ncat: {home}/.ssh/id_rsa: No such file or directory")
    # temporary files go where TMPDIR (or the private /tmp) says: a scratch place of the command's own
    assert shell(ws, 'echo x > "${TMPDIR:-/tmp}/x.txt" && cat "${TMPDIR:-/tmp}/x.txt"') == "exit code 0\nx"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "ws"]
    with pytest.raises(WorkspaceError, match=r"did not finish within 0.5 s \(killed, with every process it started"):
        shell(ws, "sleep 5", timeout_s=0.5)
    assert "cut at 100" in shell(ws, "seq 1 1000", max_output=100)


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("t") / "telemetry.duckdb"
    run_benchmark("llq", small_config([(i * 0.1, 20, 10) for i in range(120)], num_blocks=100), 1, telemetry=path,
                  run_id="exp1")
    return path


def test_query_telemetry_is_read_only_capped_and_discoverable(db):
    assert "requests(run_id VARCHAR" in schema(db)
    assert query_telemetry(db, "SCHEMA") == schema(db)
    out = query_telemetry(db, "SELECT request_id FROM requests ORDER BY 1", max_rows=10)
    assert out.splitlines()[0] == "request_id" and "more than 10 rows" in out
    with pytest.raises(ValueError, match="only read-only queries"):
        query_telemetry(db, "DELETE FROM requests")
    with pytest.raises(ValueError, match="SQL error"):
        query_telemetry(db, "SELECT nope FROM requests")
    assert "cut at 50 characters" in query_telemetry(db, "SELECT * FROM requests", max_chars=50)


def test_a_failing_tool_call_returns_an_error_the_model_can_act_on(db, tmp_path):
    task = {"design": {"file": "policy.py", "editable": ["policy.py"]},
            "benchmark": {"workload": "paper-routing-short", "seeds": [0]}}
    evaluator = Evaluator("paper-routing-short", [0], lambda m: m.get("mean_e2e_s", float("inf")), db=db)
    ctx = ToolContext(tmp_path, db, task, "c1", evaluator)
    bad = execute(ctx, "query_telemetry", {}, "t1", 5)
    assert bad.error and "bad arguments for query_telemetry: sql: Field required" in bad.text
    assert execute(ctx, "launch_rockets", {}, "t2", 5).text.startswith("ERROR: unknown tool 'launch_rockets'")
    assert "budget is used up" in execute(ctx, "run_simulation", {}, "t3", 0).text
    missing = execute(ctx, "run_simulation", {"candidate": "nothing.py"}, "t4", 5)
    assert missing.error and "not found" in missing.text
    assert "exp1" in execute(ctx, "query_telemetry", {"sql": "SELECT run_id FROM runs"}, "t5", 5).text


def test_a_design_is_reported_best_only_if_its_hardened_re_measurement_agrees(tmp_path):
    (tmp_path / "honest.py").write_text(STARTER.read_text())
    (tmp_path / "two_faced.py").write_text(TWO_FACED)
    ev = Evaluator("paper-routing-short", [0], lambda m: m.get("mean_e2e_s", float("inf")),
                   db=tmp_path / "telemetry.duckdb")
    honest = run_simulation(tmp_path, ev, "honest.py", "c1-e1")
    assert honest["program"] == program_key("# re-worded\n" + (tmp_path / "honest.py").read_text())
    check = confirm_hardened(tmp_path, honest, ev)
    assert check["agree"] and check["differences"] == {} and describe_check(check).startswith(
        "hardened re-measurement agrees: every figure equal (the re-run took ")
    cheat = run_simulation(tmp_path, ev, "two_faced.py", "c1-e2")
    check = confirm_hardened(tmp_path, cheat, ev)
    assert not check["agree"] and describe_check(check).startswith(
        "hardened re-measurement DISAGREES, the measured figures cannot be trusted (mean_e2e_s ")
    (tmp_path / honest["snapshot"]).write_text(TWO_FACED)  # the workspace's copy is the researcher's to read only
    assert confirm_hardened(tmp_path, honest, ev)["agree"]
    frozen = Path(honest["frozen"])  # the snapshot itself lies outside the workspace: changed, it is refused
    assert not frozen.is_relative_to(tmp_path)
    frozen.chmod(0o644)
    frozen.write_text(TWO_FACED)
    assert confirm_hardened(tmp_path, honest, ev)["differences"] == {
        "snapshot": "changed or missing since it was measured"}


def test_a_policy_that_raises_is_reported_with_the_line_that_raised(db, tmp_path):
    task = {"design": {"file": "policy.py", "editable": ["policy.py"]},
            "benchmark": {"workload": "paper-routing-short", "seeds": [0]}}
    (tmp_path / "policy.py").write_text(
        "from glia.simulator import BaseGlobalScheduler\n\n\nclass Router(BaseGlobalScheduler):\n"
        "    def schedule(self):\n        load = {}\n"
        "        return [(load[r.arrived_at], r) for r in self._request_queue]\n")
    evaluator = Evaluator("paper-routing-short", [0], lambda m: m.get("mean_e2e_s", float("inf")), db=db)
    res = execute(ToolContext(tmp_path, db, task, "c1", evaluator), "run_simulation", {"label": "raises"}, "t1", 5)
    assert "policy raised KeyError in schedule() at " in res.text
    assert "py:7: 0.0 (line 7: `return [(load[r.arrived_at], r) for r in self._request_queue]`)" in res.text


def test_the_harness_follows_no_link_the_shell_made_and_opens_no_fifo(tmp_path):
    import os

    from glia.tools.workspace import read_inside, write_inside

    outside = tmp_path / "outside"
    outside.mkdir()
    ws = tmp_path / "ws"
    ws.mkdir()
    (outside / "secret.txt").write_text("secret")
    (ws / "link.txt").symlink_to(outside / "secret.txt")
    (ws / "dangling.pth").symlink_to(outside / "created.pth")
    (ws / "dir").symlink_to(outside)
    os.mkfifo(ws / "fifo.py")
    for name in ("link.txt", "dir/secret.txt"):
        with pytest.raises(WorkspaceError, match="symbolic link"):
            read_inside(ws, name)
    with pytest.raises(WorkspaceError, match="not a regular file"):
        read_inside(ws, "fifo.py")  # an open that would never return
    write_inside(ws, "dangling.pth", b"import os")  # replaces the link, never creates its target
    assert not (outside / "created.pth").exists() and (ws / "dangling.pth").read_bytes() == b"import os"
    with pytest.raises(WorkspaceError, match="symbolic link"):
        write_inside(ws, "dir/x.py", b"")
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
