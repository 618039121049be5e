"""Shared fixtures: no test reaches the network; tests marked ``loopback`` may reach this machine's loopback only."""

from __future__ import annotations

import ipaddress
import socket

import pytest

_connect = socket.socket.connect
_create_connection = socket.create_connection


def _is_loopback(address) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def no_network(monkeypatch, request):
    """Internet sockets are refused (Unix sockets, which multiprocessing uses, are allowed). A test marked
    ``@pytest.mark.loopback`` may connect to 127.0.0.0/8 and ::1, and to nothing else."""
    loopback = request.node.get_closest_marker("loopback") is not None

    def allowed(sock_family, address) -> bool:
        return sock_family == socket.AF_UNIX or (loopback and _is_loopback(address))

    def guarded(sock, address):
        if not allowed(sock.family, address):
            raise RuntimeError(f"tests must not open network connections (tried {address!r})")
        return _connect(sock, address)

    def create_connection(address, *args, **kwargs):
        if not (loopback and _is_loopback(address)):
            raise RuntimeError("tests must not open network connections")
        return _create_connection(address, *args, **kwargs)
    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket, "create_connection", create_connection)
