"""Shared fixtures: no test reaches the network. Tests marked ``loopback`` may reach this machine's loopback only,
and so may every test while cassettes of the local model servers are re-recorded (``--record-mode`` other than
none) or the opt-in tests with the real local model run (``GLIA_REAL_MODEL``)."""

from __future__ import annotations

import ipaddress
import os
import socket

import pytest

_connect = socket.socket.connect
_create_connection = socket.create_connection


def _is_loopback(address) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def no_network(monkeypatch, request):
    """Internet sockets are refused (Unix sockets, which multiprocessing uses, are allowed). A test marked
    ``@pytest.mark.loopback`` may connect to 127.0.0.0/8 and ::1, and to nothing else; so may any test while
    cassettes are re-recorded or ``GLIA_REAL_MODEL`` is set."""
    recording = request.config.getoption("--record-mode", None) not in (None, "none") or bool(
        os.environ.get("GLIA_REAL_MODEL"))
    loopback = recording or request.node.get_closest_marker("loopback") is not None

    def allowed(address) -> bool:
        return loopback and _is_loopback(address)

    def guarded(sock, address):
        if sock.family != socket.AF_UNIX and not allowed(address):
            raise RuntimeError(f"tests must not open network connections (tried {address!r})")
        return _connect(sock, address)

    def create_connection(address, *args, **kwargs):
        if not allowed(address):
            raise RuntimeError("tests must not open network connections")
        return _create_connection(address, *args, **kwargs)
    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket, "create_connection", create_connection)


@pytest.fixture(autouse=True)
def user_cache(monkeypatch, tmp_path_factory):
    """Each test's own per-user cache directory (endpoint profiles): no test reads or writes the real ~/.cache,
    and no test sees another's cached profiles."""
    path = tmp_path_factory.mktemp("user-cache")
    monkeypatch.setenv("GLIA_CACHE_DIR", str(path))
    return path
