"""Reaching a program's unix socket inside a run's directory (notebook and model servers
listen on one: a sandbox without network still serves the service this way)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import httpx

MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes; longer paths are reached through a link


def connect_path(socket_path: Path) -> tuple[Path, Path | None]:
    """A path to the socket short enough for `connect` (a link in a private directory when
    the run's own path is too long), and that directory, for the caller to remove after."""
    if len(os.fsencode(socket_path)) <= MAX_SOCKET_PATH:
        return socket_path, None
    link_dir = Path(tempfile.mkdtemp(prefix="hops-sock-"))
    link = link_dir / "s"
    link.symlink_to(socket_path)
    return link, link_dir


def http_transport(socket_path: Path) -> httpx.HTTPTransport:
    """Plain HTTP over the socket. `verify=False` because nothing here is TLS: without it
    httpx builds an SSL context per transport, which loads the CA bundle (~40 ms)."""
    return httpx.HTTPTransport(uds=str(socket_path), verify=False)


def async_http_transport(socket_path: Path) -> httpx.AsyncHTTPTransport:
    """As `http_transport`, for the proxies' event loop."""
    return httpx.AsyncHTTPTransport(uds=str(socket_path), verify=False)
