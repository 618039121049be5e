"""The bridge between a library's process (OpenEvolve, llm4ad) and the comparison: its model calls and its
evaluations are served by the parent, so every method talks to its model through Glia's client (the endpoint,
retries on transient errors, token accounting) and evaluates through the one evaluator and budget ledger.

The parent listens on a Unix socket (``Bridge``); any process of the library (OpenEvolve evaluates and calls the
model in a pool of worker processes) connects with the address and key it finds in its environment
(``BridgeClient.from_env``). Requests are ``{"op": "llm", "messages": [...]}`` and ``{"op": "evaluate", "code":
..., "label": ...}``; answers are ``{"text": ...}``, the evaluation's figures, or ``{"error": ...}``.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import threading
from collections.abc import Callable
from multiprocessing.connection import Client, Listener
from pathlib import Path

ADDRESS_ENV = "GLIA_BRIDGE_ADDRESS"
KEY_ENV = "GLIA_BRIDGE_KEY"


class Bridge:
    """Serves ``llm(messages) -> text`` and ``evaluate(code, label) -> dict`` to a library's processes."""

    def __init__(self, llm: Callable[[list[dict]], str] | None, evaluate: Callable[[str, str], dict]):
        self.llm, self.evaluate = llm, evaluate
        self._dir = tempfile.mkdtemp(prefix="glia-bridge-")
        self.address = str(Path(self._dir) / "socket")
        self.key = secrets.token_bytes(16)
        self._listener = Listener(self.address, family="AF_UNIX", authkey=self.key)
        self._closed = threading.Event()
        self.failure: Exception | None = None  # a model failure that should stop the search (EndpointDown)
        threading.Thread(target=self._accept, daemon=True, name="glia-bridge").start()

    def env(self) -> dict[str, str]:
        return {ADDRESS_ENV: self.address, KEY_ENV: self.key.hex()}

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn = self._listener.accept()
            except (OSError, EOFError):
                if self._closed.is_set():
                    return
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn) -> None:
        with conn:
            while not self._closed.is_set():
                try:
                    request = conn.recv()
                except (EOFError, OSError):
                    return
                try:
                    conn.send(self._answer(request))
                except (OSError, ValueError):
                    return

    def _answer(self, request: dict) -> dict:
        try:
            if request.get("op") == "llm":
                if self.llm is None:
                    return {"error": "this method has no model"}
                return {"text": self.llm(request["messages"])}
            if request.get("op") == "evaluate":
                return self.evaluate(request["code"], request.get("label", ""))
            return {"error": f"unknown bridge operation {request.get('op')!r}"}
        except Exception as exc:  # reported to the library as its model or evaluator failing
            if type(exc).__name__ == "EndpointDown":
                self.failure = exc
            return {"error": f"{type(exc).__name__}: {exc}"}
        except KeyboardInterrupt:  # the user stopped the comparison (Ctrl-C): the unit stops, this thread says so
            # to the library instead of dying with a traceback on the user's terminal; the evaluation in flight was
            # given back (not charged), and the comparison's own line says how to resume
            return {"error": "interrupted: the comparison was stopped by the user"}

    def close(self) -> None:
        self._closed.set()
        try:
            self._listener.close()
        except OSError:
            pass
        for p in Path(self._dir).glob("*"):
            p.unlink(missing_ok=True)
        os.rmdir(self._dir)


class BridgeError(RuntimeError):
    """The parent answered with an error (the model failed, or the bridge is gone)."""


class BridgeClient:
    """The library side: one connection per process, serialised across its threads."""

    _instances: dict[int, BridgeClient] = {}

    def __init__(self, address: str, key: bytes):
        self._conn = Client(address, family="AF_UNIX", authkey=key)
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls) -> BridgeClient:
        pid = os.getpid()
        if pid not in cls._instances:
            cls._instances[pid] = cls(os.environ[ADDRESS_ENV], bytes.fromhex(os.environ[KEY_ENV]))
        return cls._instances[pid]

    def _call(self, request: dict) -> dict:
        with self._lock:
            try:
                self._conn.send(request)
                return self._conn.recv()
            except (EOFError, OSError) as exc:
                raise BridgeError(f"the comparison's bridge is gone: {exc}") from None

    def llm(self, messages: list[dict]) -> str:
        answer = self._call({"op": "llm", "messages": messages})
        if "error" in answer:
            raise BridgeError(answer["error"])
        return answer["text"]

    def evaluate(self, code: str, label: str = "") -> dict:
        return self._call({"op": "evaluate", "code": code, "label": label})
