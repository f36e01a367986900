"""Connection handling of the served app (`http_server.uvicorn_options`)."""

from __future__ import annotations

import select
import socket
import time
from urllib.parse import urlsplit

import pytest

IDLE_S = 6  # longer than uvicorn's default keep-alive (5 s), which the SDK raced


def _get_health(sock: socket.socket, host: str) -> bytes:
    sock.sendall(f"GET /api/health HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        answer += chunk
    return answer


def _closed_by_peer(sock: socket.socket) -> bool:
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""


def test_an_idle_kept_alive_connection_is_still_served(live_server: str) -> None:
    """A client that waits a few seconds between calls (the SDK polling a deployment) must
    find its pooled connection open, not race the server closing it."""
    address = urlsplit(live_server)
    assert address.hostname and address.port
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        assert _get_health(sock, address.netloc).startswith(b"HTTP/1.1 200")
        time.sleep(IDLE_S)
        if _closed_by_peer(sock):
            pytest.fail(f"the server closed a connection idle for {IDLE_S} s")
        assert _get_health(sock, address.netloc).startswith(b"HTTP/1.1 200")
