"""The executions this process runs: their handles and who asked to stop them.

Hung on the Runtime (one per app), not a module global. A run dies with the process that
started it (`--die-with-parent`), so only this process can stop or watch its runs; other
instances ask it through the DB (`Execution.stop_requested_at`), which its watcher reads
(`jobs.watch`). `instance` names this process in the DB (`Execution.instance`, its
heartbeat row).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hopsworks_api.backends.runner.base import RunHandle
from hopsworks_api.coordination.lease import instance_id


@dataclass
class ExecutionRegistry:
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC).replace(tzinfo=None))
    instance: str = field(default_factory=instance_id)
    _handles: dict[int, RunHandle] = field(default_factory=dict)
    _stops: set[int] = field(default_factory=set)
    _threads: dict[int, threading.Thread] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _wake: threading.Event = field(default_factory=threading.Event)

    def register(self, execution_id: int, handle: RunHandle, monitor: threading.Thread) -> bool:
        """Record a started run; True if a stop was asked for before it was recorded."""
        with self._lock:
            self._handles[execution_id] = handle
            self._threads[execution_id] = monitor
            return execution_id in self._stops

    def handle(self, execution_id: int) -> RunHandle | None:
        with self._lock:
            return self._handles.get(execution_id)

    def request_stop(self, execution_id: int) -> RunHandle | None:
        with self._lock:
            self._stops.add(execution_id)
            return self._handles.get(execution_id)

    def stop_requested(self, execution_id: int) -> bool:
        with self._lock:
            return execution_id in self._stops

    def forget(self, execution_id: int) -> None:
        with self._lock:
            self._handles.pop(execution_id, None)
            self._threads.pop(execution_id, None)
            self._stops.discard(execution_id)

    def running(self) -> set[int]:
        with self._lock:
            return set(self._handles)

    def wake(self) -> None:
        """Have the watcher look now (a member, project or account change just committed)
        rather than at its next beat."""
        self._wake.set()

    def sleep(self, seconds: float) -> None:
        """The watcher's pause between passes; a `wake` ends it early."""
        if self._wake.wait(seconds):
            self._wake.clear()
