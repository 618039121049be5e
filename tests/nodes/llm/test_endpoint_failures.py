"""A model endpoint that cannot serve, met as a user meets it: real HTTP servers on loopback (tests/support/servers.py's
``Loopback``), reached by a real ``glia`` command or by the agents' own client. Down at the start, a refused key, a
model the server does not have, an endpoint that dies mid-run: one line each (what failed, where, what to check:
``glia doctor``), never a traceback, the run paused and resumable; once the endpoint answers, the run resumes."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from glia.graph.config import RunConfig
from glia.graph.runs import resume_run, start_run
from tests.nodes.llm.test_servers import research_model
from tests.support.servers import SERVERS, Loopback
from tests.support.terminal import run

TASK = str(Path(__file__).parents[2] / "tasks" / "quick.toml")
pytestmark = pytest.mark.loopback


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_line(g) -> str:
    """The command's only output line (its stdout), and no traceback anywhere."""
    assert "Traceback" not in g.stderr + g.stdout, g.stderr + g.stdout
    lines = g.stdout.splitlines()
    assert len(lines) == 1, g.stdout
    return lines[0]


def test_an_endpoint_down_at_the_start_is_one_line_and_the_run_starts_once_it_answers(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    args = ("--workspace", str(tmp_path))
    g = run("run", "--task", TASK, "--budget-sims", "2", "--model", "emulated", "--base-url", url, "--thread", "t",
            *args, env={"OPENAI_API_KEY": "k"})
    assert g.proc.returncode == 3
    assert one_line(g) == (
        f"run t: paused: cannot reach the model endpoint {url} (model emulated): [Errno 111] Connection refused; is "
        "the server running, and is the URL its OpenAI-compatible base (usually ending in /v1)? `glia doctor --model "
        f"emulated --base-url {url}` checks it; `glia resume t` starts the run once it answers")
    doctor = run("doctor", "--model", "emulated", "--base-url", url, *args)
    assert doctor.proc.returncode == 1 and "error: cannot reach the model endpoint" in doctor.stderr
    with Loopback(SERVERS["openai"](research_model()), port=port):
        g = run("resume", "t", *args, "--json", env={"OPENAI_API_KEY": "k"})
    assert g.proc.returncode == 0, g.stderr
    assert '"status": "finished"' in g.stdout and '"simulations_used": 2' in g.stdout


@pytest.mark.parametrize("case", ["key", "model"])
def test_a_refused_key_or_an_unknown_model_is_one_line(case, tmp_path):
    with Loopback(SERVERS["openai"](research_model()), key="right", model="emulated") as server:
        g = run("run", "--task", TASK, "--budget-sims", "1", "--thread", "t", "--workspace", str(tmp_path),
                "--model", "emulated" if case == "key" else "emulatd", "--base-url", server.url,
                env={"OPENAI_API_KEY": "wrong" if case == "key" else "right"})
    assert g.proc.returncode == 3
    line = one_line(g)
    if case == "key":
        assert line.startswith(f"run t: paused: the model endpoint {server.url} (model emulated) refused the API key "
                               "(HTTP 401: Incorrect API key provided); check OPENAI_API_KEY; `glia doctor --model "
                               f"emulated --base-url {server.url}` checks it; `glia resume t` starts the run"), line
    else:
        assert line == (f"run t: not started: the model endpoint {server.url} (model emulatd) does not serve "
                        "model 'emulatd' (HTTP 404: The model `emulatd` does not exist); check --model (or GLIA_MODEL) "
                        "against the "
                        f"server's models; `glia doctor --model emulatd --base-url {server.url}` checks it; nothing "
                        "was started (run it again with the model's right name)"), line
        assert not (tmp_path / "runs" / "t").exists()   # no run left behind for a model that is not there
    assert not (tmp_path / "endpoints.json").exists()  # nothing cached from a refusal


def test_an_endpoint_that_dies_mid_run_pauses_it_in_one_line_and_resume_goes_on(tmp_path):
    model = research_model()
    probe_and_two_turns = 8 + 2
    server = Loopback(SERVERS["openai"](model), answer=probe_and_two_turns).start()
    config = RunConfig.build(TASK, budget_sims=3, model="emulated", base_url=server.url, workspace=tmp_path,
                             settings={"retry_base_s": 0.0, "max_retries": 1})
    out = start_run(config)
    assert out.status == "paused" and out.endpoint_failed, out.message
    assert "\n" not in out.message and "Traceback" not in out.message
    assert out.message.startswith("the ") and (f"cannot reach the model endpoint {server.url} (model emulated): "
                                               "[Errno 111] Connection refused") in out.message, out.message
    assert out.message.endswith(f"`glia resume {out.thread_id}` continues once it answers")
    kept = [e["id"] for e in out.state.get("ledger", [])]
    with Loopback(SERVERS["openai"](model), port=server.port):
        again = resume_run(out.thread_id, tmp_path)
    assert again.status == "finished", again.message
    ids = [e["id"] for e in again.state["ledger"]]
    assert ids[:len(kept)] == kept and len(ids) == len(set(ids)) == 3
