"""The servings this process runs: their model servers' handles and sockets.

Hung on the Runtime (one per app). A model server dies with the process that started it
(`--die-with-parent`), and its socket is reachable only on this host, so only this process
serves its predictions; the row names the process (`Serving.instance`). On Kubernetes the
InferenceService is this process's to watch, charge and delete too (it is deleted when the
process stops), but every instance predicts through its URL (`Serving.url`).
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from hopsworks_api.backends.runner.base import RunHandle
from hopsworks_api.live_runs import LiveRegistry


@dataclass
class LiveServing:
    serving_id: int
    name: str
    project: str
    project_id: int
    user_id: int
    started_at: datetime
    """Naive UTC, as in the row: tells this run of the serving from a later one."""
    handles: list[RunHandle] = field(default_factory=list)
    sockets: list[Path] = field(default_factory=list)
    """Where the service connects to each instance (short links when the paths are long)."""
    link_dirs: list[Path] = field(default_factory=list)
    namespace: str | None = None
    """On Kubernetes: the namespace of its InferenceService (named as the serving)."""
    stop: threading.Event = field(default_factory=threading.Event)
    reason: str = "stopped by a member"
    ready: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    _turn: itertools.count = field(default_factory=itertools.count)

    def next_socket(self) -> Path:
        """Round robin over the instances (`next` on a count is atomic under the GIL)."""
        return self.sockets[next(self._turn) % len(self.sockets)]


@dataclass
class ServingRegistry(LiveRegistry[LiveServing]):
    swept_at: float | None = None
    """When the lease holder last looked for InferenceServices no active serving owns
    (`time.monotonic()`; None: not since this process started)."""
