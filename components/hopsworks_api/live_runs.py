"""The long-running servers this process runs (notebook servers, model servers), by row id.

Hung on the Runtime (one registry per kind, per app). Such a server dies with the process
that started it (`--die-with-parent`) and is reachable only through it (its socket is on
this host, its token in this memory), so the row names the process and only this registry
stops it. A watcher thread per server does the stopping: it waits on `stop`, then sets
`done`; asking to stop sets `reason` and `stop`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar


class Live(Protocol):
    project_id: int
    user_id: int
    """Whose server it is: it must not outlive their right to run work in the project."""
    stop: threading.Event
    """Set to ask the server's watcher to stop it; `reason` says why."""
    reason: str
    done: threading.Event
    """Set by the watcher once the server's processes are gone."""


L = TypeVar("L", bound=Live)


@dataclass
class LiveRegistry(Generic[L]):
    _live: dict[int, L] = field(default_factory=dict)
    _stops: dict[int, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, key: int, live: L) -> None:
        """Register a started server; a stop asked for before this is passed on to it."""
        with self._lock:
            self._live[key] = live
            reason = self._stops.pop(key, None)
        if reason is not None:
            _ask(live, reason)

    def request_stop(self, key: int, reason: str) -> None:
        """Stop the server now, or as soon as its start registers it."""
        with self._lock:
            live = self._live.get(key)
            if live is None:
                self._stops[key] = reason
        if live is not None:
            _ask(live, reason)

    def get(self, key: int) -> L | None:
        with self._lock:
            return self._live.get(key)

    def forget(self, key: int) -> None:
        with self._lock:
            self._live.pop(key, None)
            self._stops.pop(key, None)

    def running(self) -> set[int]:
        with self._lock:
            return set(self._live)

    def stop_all(self, reason: str, wait_s: float) -> None:
        """Stop every server as the process shuts down (they would die with it anyway; an
        app stopped inside a longer-lived process, as in tests, must not leave them)."""
        with self._lock:
            servers = list(self._live.values())
        for live in servers:
            _ask(live, reason)
        for live in servers:
            live.done.wait(wait_s)


def _ask(live: Live, reason: str) -> None:
    live.reason = reason
    live.stop.set()
