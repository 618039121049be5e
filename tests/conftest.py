"""Shared fixtures: no test reaches the network."""

from __future__ import annotations

import socket

import pytest

_connect = socket.socket.connect


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Internet sockets are refused (Unix sockets, which multiprocessing uses, are allowed)."""
    def guarded(sock, address):
        if sock.family != socket.AF_UNIX:
            raise RuntimeError(f"tests must not open network connections (tried {address!r})")
        return _connect(sock, address)

    def refuse(*args, **kwargs):
        raise RuntimeError("tests must not open network connections")
    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket, "create_connection", refuse)
