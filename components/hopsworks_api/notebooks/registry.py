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
from hopsworks_api.live_runs import LiveRegistry


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


NotebookRegistry = LiveRegistry[LiveServer]
