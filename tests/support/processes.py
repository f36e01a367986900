"""Helpers every test-server harness needs: a free loopback port, and a preexec hook so a
server dies with the test process instead of outliving a crashed run."""

from __future__ import annotations

import contextlib
import ctypes
import signal
import socket

_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    """Ask the kernel for a currently unused loopback port (raced: callers retry on clash)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def die_with_parent() -> None:
    """preexec hook: have the kernel SIGTERM the child if the test process dies uncleanly."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
