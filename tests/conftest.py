"""Shared fixtures: no test reaches the network (re-recording cassettes may reach loopback servers)."""

from __future__ import annotations

import os
import socket

import pytest

_connect = socket.socket.connect
_create_connection = socket.create_connection
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@pytest.fixture(autouse=True)
def no_network(monkeypatch, request):
    """Internet sockets are refused (Unix sockets, which multiprocessing uses, are allowed). With
    ``--record-mode`` other than none (re-recording cassettes of the local model servers) or ``GLIA_REAL_MODEL``
    (opt-in tests with the real local model), loopback is allowed."""
    recording = request.config.getoption("--record-mode", None) not in (None, "none") or bool(
        os.environ.get("GLIA_REAL_MODEL"))  # opt-in tests against the local model server

    def allowed(address) -> bool:
        return recording and isinstance(address, tuple) and address[0] in LOOPBACK

    def guarded(sock, address):
        if sock.family != socket.AF_UNIX and not allowed(address):
            raise RuntimeError(f"tests must not open network connections (tried {address!r})")
        return _connect(sock, address)

    def refuse(address, *args, **kwargs):
        if not allowed(address):
            raise RuntimeError("tests must not open network connections")
        return _create_connection(address, *args, **kwargs)
    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket, "create_connection", refuse)
