"""The serving commands' argument checks, the lazy import of the serve extra, and the loopback-only test guard."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from glia.graph.cli import main


def test_the_cli_does_not_import_the_serve_extra_until_a_serving_command_runs():
    code = "import sys, glia.graph.cli; glia.graph.cli.build_parser(); print('aiohttp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_loadgen_refuses_a_target_off_this_machine_unless_told(capsys):
    assert main(["loadgen", "--target", "http://10.1.2.3:8000", "--workload", "paper-routing"]) == 2
    assert "not on this machine" in capsys.readouterr().err


def test_sim_to_real_needs_two_policies(capsys):
    assert main(["sim-to-real", "--backend", "http://127.0.0.1:9", "--policies", "llq",
                 "--workload", "paper-routing"]) == 2
    assert "at least two policies" in capsys.readouterr().err


def test_a_broken_calibration_file_is_named_in_the_error(tmp_path, capsys):
    bad = tmp_path / "cal.json"
    bad.write_text("{}")
    assert main(["route", "--policy", "llq", "--backend", "http://127.0.0.1:9", "--calibration", str(bad)]) == 2
    assert f"cannot read the service model in {bad}" in capsys.readouterr().err


@pytest.mark.loopback
def test_route_reports_a_backend_that_does_not_answer(capsys):
    with socket.socket() as s:  # a free port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("glia.graph.serving.backends.PROBE_TIMEOUT_S", 1.0)
        assert main(["route", "--policy", "llq", "--backend", f"http://127.0.0.1:{port}", "--no-record"]) == 2
    assert "does not answer" in capsys.readouterr().err


def test_tests_without_the_loopback_mark_cannot_reach_even_loopback():
    with socket.socket() as s, pytest.raises(RuntimeError, match="must not open network connections"):
        s.connect(("127.0.0.1", 9))


@pytest.mark.loopback
def test_the_loopback_mark_allows_loopback_and_nothing_else():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname(), timeout=2):
            pass
    with socket.socket() as s, pytest.raises(RuntimeError, match="must not open network connections"):
        s.connect(("10.0.0.1", 80))
    with pytest.raises(RuntimeError):
        socket.create_connection(("192.168.1.1", 80))
