"""A member's notebook server as a Pod in the project's namespace (HOPS_JOB_RUNNER=kubernetes).

The use case is the embedded one (`service`): the same admission, row, proxy, checks and
charging (`lifecycle`); what differs is only where the server runs. Here its objects
(`cluster.server_objects`: token Secret, NetworkPolicy, Pod, Service) are created through
`KubernetesServers` (validated, the namespace's quota checked, nothing left half-made), the
watcher reads the Pod's phase and `Ready` condition instead of a process, reaches Jupyter at
its Service's URL, and deletes every object of the member's server when it ends. A Pod does
not die with the service: the watcher deletes it on every end (stop, cull, membership lost,
project deleted, shutdown), the lease holder deletes those of a process that is gone
(`service._end_orphan`), and, when it takes the lead, every notebook object no active row
accounts for (`delete_orphans`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import select

from hopsworks_api.authz import ProjectAccess
from hopsworks_api.backends.kubernetes.base import namespace_for
from hopsworks_api.backends.runner.base import DatasetMount
from hopsworks_api.errors import AppError, BadRequest, Unavailable
from hopsworks_api.notebooks import cluster, lifecycle
from hopsworks_api.notebooks.models import (
    ACTIVE_STATES,
    LOG_TAIL_BYTES,
    JupyterStart,
    NotebookServer,
    NotebookState,
)
from hopsworks_api.notebooks.registry import LiveServer
from hopsworks_api.projects.models import Project
from hopsworks_api.runtime import Runtime
from hopsworks_api.users.models import User

if TYPE_CHECKING:
    from hopsworks_api.backends.runner.kubernetes_servers import KubernetesServers

log = logging.getLogger(__name__)

DEFAULT_ENVIRONMENT = "default"
ENDED_PHASES = ("Failed", "Succeeded")
DELETE_ATTEMPTS = 3
DELETE_BACKOFF_S = 1.0
LOG_TAIL_LINES = 100


def render(
    rt: Runtime,
    servers: KubernetesServers,
    access: ProjectAccess,
    mounts: Sequence[DatasetMount],
    data: JupyterStart,
    token: str,
) -> list[dict[str, Any]]:
    """The server's objects, before anything is recorded or created: 400 for an environment
    other than `default` (the Pod runs the image), 413 when it alone asks for more than the
    namespace's quota. The project's own datasets are mounted from its datasets volume,
    writable where the member's role may write (datasets shared with the project live in
    their owner's volume and are not mounted)."""
    if data.environment != DEFAULT_ENVIRONMENT:
        raise BadRequest(
            "a notebook server on Kubernetes runs the platform's image "
            "(HOPS_KUBERNETES_NOTEBOOK_IMAGE): only the 'default' environment",
            code="environment_not_in_cluster",
        )
    settings = rt.settings
    own = [mount for mount in mounts if mount.owner is None]
    spec = cluster.NotebookPodSpec(
        project=access.project,
        username=access.username,
        image=settings.kubernetes_notebook_image,
        base_url=lifecycle.base_url(access.project),
        cores=data.resources.cores,
        memory_mb=data.resources.memory_mb,
        datasets_claim=settings.kubernetes_datasets_claim,
        writable=[mount.name for mount in own if mount.writable],
        readable=[mount.name for mount in own if not mount.writable],
    )
    quota = servers.namespace_quota(namespace_for(access.project))
    return cluster.server_objects(spec, quota, settings.kubernetes_platform_endpoints, token)


def launch(
    rt: Runtime,
    servers: KubernetesServers,
    *,
    server_id: int,
    access: ProjectAccess,
    started_at: datetime,
    token: str,
    objects: Sequence[dict[str, Any]],
) -> None:
    """Create the objects of the row `server_id` (STARTING) and start its watcher; a refusal
    (the namespace's quota: 400/409, nothing created) ends the row FAILED and is raised."""
    try:
        url = servers.start_notebook(objects)
    except Exception as exc:
        rt.notebooks.forget(server_id)
        lifecycle.end(
            rt,
            server_id,
            started_at,
            state=NotebookState.FAILED,
            reason="could not start",
            tail=str(exc),
        )
        if isinstance(exc, AppError):
            raise
        raise Unavailable(f"the notebook server could not start: {exc}") from exc
    live = LiveServer(
        server_id=server_id,
        project=access.project,
        project_id=access.project_id,
        user_id=access.user_id,
        started_at=started_at,
        token=token,
        url=url,
        namespace=namespace_for(access.project),
        username=access.username,
    )
    watcher = threading.Thread(
        target=_watch, args=(rt, servers, live), name=f"notebook-{server_id}", daemon=True
    )
    rt.notebooks.add(server_id, live)
    watcher.start()


# --- the watcher -----------------------------------------------------------------------


def _pod(servers: KubernetesServers, live: LiveServer) -> tuple[str | None, bool]:
    """(why the server is over, or None; whether its Pod is Ready). An API server that does
    not answer, or answers with an error, ends nothing: it is asked again at the next poll
    (a server that never gets Ready fails at the start deadline)."""
    try:
        status = servers.notebook_status(live.namespace, cluster.name(live.username))
    except AppError as exc:
        log.warning("notebook server %s: no pod status: %s", live.server_id, exc)
        return None, False
    if status is None:
        return "its pod was deleted", False
    if status.phase in ENDED_PHASES:
        detail = f": {status.message}" if status.message else ""
        return f"its pod ended ({status.phase}{detail})", False
    return None, status.ready


def _run(rt: Runtime, servers: KubernetesServers, live: LiveServer) -> str | None:
    """Wait until the Pod is Ready and Jupyter answers at the Service, then check it every
    `notebook_check_seconds` (and at once when asked to stop) until it ends or must. A
    failure, or None when it was asked to stop."""
    settings = rt.settings
    deadline = time.monotonic() + settings.notebook_start_timeout_seconds
    next_check = time.monotonic()
    with httpx.Client(base_url=live.url or "", timeout=10) as http:
        while not live.stop.is_set():
            now = time.monotonic()
            if now >= next_check:  # while it starts too: a member may leave meanwhile
                next_check = now + settings.notebook_check_seconds
                running = live.ready.is_set()
                lifecycle.check(rt, live, lifecycle.jupyter_status(http, live) if running else None)
                failure, _ = _pod(servers, live) if running else (None, False)
                if failure is not None:
                    return failure
                continue
            if live.ready.is_set():
                live.stop.wait(next_check - now)
                continue
            failure, ready = _pod(servers, live)
            if failure is not None:
                return failure
            if ready and lifecycle.jupyter_status(http, live) is not None:
                lifecycle.mark_running(rt, live)
                live.ready.set()
            elif now > deadline:
                return f"did not answer within {settings.notebook_start_timeout_seconds:g} s"
            else:
                live.stop.wait(min(servers.poll_seconds, max(0.0, next_check - now)))
    lifecycle.set_state(rt, live, NotebookState.STOPPING)
    return None


def _tail(servers: KubernetesServers, live: LiveServer) -> str:
    try:
        text = servers.notebook_log(live.namespace, cluster.name(live.username), LOG_TAIL_LINES)
    except AppError as exc:
        text = f"(its log could not be read: {exc})"
    return text[-LOG_TAIL_BYTES:]


def _delete(servers: KubernetesServers, namespace: str, username: str) -> str | None:
    """Delete every object of the member's server, trying again a little later when the API
    server does not answer; None, or why they may still be there."""
    waiter = threading.Event()
    problem = ""
    for attempt in range(DELETE_ATTEMPTS):
        try:
            servers.stop_notebook(namespace, username)
            return None
        except Exception as exc:
            problem = str(exc)
            waiter.wait(DELETE_BACKOFF_S * (attempt + 1))
    return f"its objects could not be deleted ({problem}); reconciliation deletes them"


def _watch(rt: Runtime, servers: KubernetesServers, live: LiveServer) -> None:
    """The server's life from its creation to its end; the end is recorded once its objects
    are deleted, so STOPPED/FAILED means nothing of it is left (or says what may be)."""
    state, reason, tail = NotebookState.FAILED, "its watcher failed", None
    try:
        failure = _run(rt, servers, live)
        if failure is not None and not live.ready.is_set():
            failure = f"the server did not start: {failure}"
        state = NotebookState.FAILED if failure else NotebookState.STOPPED
        reason = failure or live.reason
        tail = _tail(servers, live) if failure else None
    except Exception:
        log.exception("the watcher of notebook server %s failed", live.server_id)
    finally:
        problem = _delete(servers, live.namespace, live.username)
        if problem is not None:
            state, reason = NotebookState.FAILED, f"{reason}; {problem}"
        lifecycle.finish(rt, live, state=state, reason=reason, tail=tail)


# --- reconciliation --------------------------------------------------------------------


def delete_objects(servers: KubernetesServers, project: str, username: str) -> None:
    """Everything of the member's server in the project's namespace (a server of a service
    process that is gone: it did not die with it)."""
    servers.stop_notebook(namespace_for(project), username)


def delete_orphans(rt: Runtime, servers: KubernetesServers) -> list[str]:
    """Delete the notebook objects in every project's namespace that no active row accounts
    for (a server whose end was recorded while its deletion failed, or a process killed
    between creating objects and recording them)."""
    with rt.read_sessions() as session:
        projects = session.scalars(select(Project.name).order_by(Project.name)).all()
        running = session.execute(
            select(Project.name, User.username)
            .join(NotebookServer, NotebookServer.project_id == Project.id)
            .join(User, User.id == NotebookServer.user_id)
            .where(NotebookServer.state.in_(ACTIVE_STATES))
        ).all()
    keep = {(namespace_for(project), username) for project, username in running}
    deleted = servers.delete_orphan_notebooks([namespace_for(p) for p in projects], keep)
    if deleted:
        log.info("orphaned notebook objects deleted", extra={"deleted": deleted})
    return deleted
