"""The notebook servers this process runs: their handles, sockets (or URLs) and tokens.

Hung on the Runtime (one per app). An embedded server dies with the process that started
it (`--die-with-parent`); one in a cluster is deleted by its watcher here, or by the lease
holder once this process is gone. Its token lives only here (and, in a cluster, in a Secret
of the project's namespace), so only this process reaches it.
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
    token: str
    handle: RunHandle | None = None
    """Embedded: the job runner's run."""
    socket_path: Path | None = None
    """Embedded: where the service connects (a short link to the socket when its path is
    too long)."""
    link_dir: Path | None = None
    url: str | None = None
    """In a cluster: the Service the proxy reaches Jupyter at."""
    namespace: str = ""
    username: str = ""
    """In a cluster: whose objects, in which namespace (`KubernetesServers.stop_notebook`)."""
    stop: threading.Event = field(default_factory=threading.Event)
    """Set to ask the watcher to stop the server; `reason` says why."""
    reason: str = "stopped by its member"
    ready: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)


NotebookRegistry = LiveRegistry[LiveServer]
