"""Opt-in (GLIA_REAL_MODEL=1): a short session with the real local model (Qwen2.5-Coder-1.5B on llama-cpp-python at
$GLIA_REAL_MODEL_URL, default http://127.0.0.1:8765/v1): probed, it runs code the model wrote. Slow (minutes) and
needs the model server, so CI skips it; benchmarks/real_model.py reports the same session in figures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not os.environ.get("GLIA_REAL_MODEL"), reason="set GLIA_REAL_MODEL=1 to run")

TASK = str(Path(__file__).parents[2] / "tasks" / "quick.toml")


def test_a_real_model_runs_code_it_wrote(tmp_path):
    from benchmarks.real_model import answering, session

    url = os.environ.get("GLIA_REAL_MODEL_URL", "http://127.0.0.1:8765/v1")
    assert answering(url), f"no model answers at {url}"
    m = session(url, os.environ.get("GLIA_REAL_MODEL_NAME", "qwen-coder"), TASK, 3, str(tmp_path), [])
    assert m["status"] == "finished", m["message"]
    assert m["model_written"] >= 1 and m["experiments"] == 3
