"""The notebook servers this process runs: their handles, sockets and tokens.

Hung on the Runtime (one per app). A server dies with the process that started it
(`--die-with-parent`), and its token lives only here, so only this process can reach it.
The process is named in the DB as its executions are (`rt.executions.instance`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from hopsworks_api.backends.runner.base import RunHandle


@dataclass
class LiveServer:
    server_id: int
    project: str
    project_id: int
    user_id: int
    started_at: datetime
    """Naive UTC, as in the row: tells this run of the server from a later one."""
    handle: RunHandle
    socket_path: Path
    """Where the service connects (a short link to the socket when its path is too long)."""
    link_dir: Path | None
    token: str
    stop: threading.Event = field(default_factory=threading.Event)
    """Set to ask the watcher to stop the server; `reason` says why."""
    reason: str = "stopped by its member"
    ready: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)


@dataclass
class NotebookRegistry:
    _servers: dict[int, LiveServer] = field(default_factory=dict)
    _stops: dict[int, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, live: LiveServer) -> None:
        """Register a started server; a stop asked for before this is passed on to it."""
        with self._lock:
            self._servers[live.server_id] = live
            reason = self._stops.pop(live.server_id, None)
        if reason is not None:
            live.reason = reason
            live.stop.set()

    def request_stop(self, server_id: int, reason: str) -> None:
        """Stop the server now, or as soon as its start registers it."""
        with self._lock:
            live = self._servers.get(server_id)
            if live is None:
                self._stops[server_id] = reason
        if live is not None:
            live.reason = reason
            live.stop.set()

    def get(self, server_id: int) -> LiveServer | None:
        with self._lock:
            return self._servers.get(server_id)

    def forget(self, server_id: int) -> None:
        with self._lock:
            self._servers.pop(server_id, None)
            self._stops.pop(server_id, None)

    def running(self) -> set[int]:
        with self._lock:
            return set(self._servers)
