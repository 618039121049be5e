"""Opt-in (GLIA_REAL_MODEL=1): a short session with the real local model (Qwen2.5-Coder-1.5B on llama-cpp-python at
$GLIA_REAL_MODEL_URL, default http://127.0.0.1:8765/v1): probed, it runs code the model wrote. Slow (minutes) and
needs the model server, so CI skips it; benchmarks/real_model.py reports the same session in figures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

real = pytest.mark.skipif(not os.environ.get("GLIA_REAL_MODEL"), reason="set GLIA_REAL_MODEL=1 to run")

TASK = str(Path(__file__).parents[2] / "tasks" / "quick.toml")


@real
def test_a_real_model_runs_code_it_wrote(tmp_path):
    from benchmarks.real_model import answering, session

    url = os.environ.get("GLIA_REAL_MODEL_URL", "http://127.0.0.1:8765/v1")
    assert answering(url), f"no model answers at {url}"
    m = session(url, os.environ.get("GLIA_REAL_MODEL_NAME", "qwen-coder"), TASK, 3, str(tmp_path), [])
    assert m["status"] == "finished", m["message"]
    assert m["model_written"] >= 1 and m["experiments"] == 3


@pytest.mark.loopback
def test_a_busy_server_is_waited_for_and_a_role_list_is_checked():
    """A local server busy with a long reply answers its model list late: the benchmark waits for it (--wait-s),
    and says which roles the model plays (the others offline)."""
    import http.server
    import socket
    import threading

    from benchmarks.real_model import answering, session

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    assert not answering(url)                                   # nothing there, no wait: down

    class Models(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"data": []}')

        def log_message(self, *args):
            pass
    server = http.server.HTTPServer(("127.0.0.1", port), Models)
    later = threading.Timer(1.0, server.serve_forever)          # it comes up while the benchmark waits
    later.start()
    try:
        assert answering(url, wait_s=120)
    finally:
        server.shutdown()
        later.join()
        server.server_close()
    with pytest.raises(ValueError, match="unknown role"):
        session(url, "m", TASK, 1, "/nonexistent", [], llm_roles=("researcher", "critic"))
