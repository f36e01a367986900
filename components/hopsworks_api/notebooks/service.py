"""Notebook server use cases: start, show and stop the caller's own JupyterLab server, and
resolve where the proxy sends the caller's requests.

A server is a run of the job runner (the same sandbox, datasets, credentials and identity
as an execution) whose program is `jupyter lab` listening on a unix socket in its scratch
directory, with a random token that only this process knows (with HOPS_JOB_RUNNER=kubernetes
a Pod in the project's namespace instead, `in_cluster`, the rest alike). A watcher thread per
server (`_watch`) sees it answer (RUNNING), polls its activity, checks that its member still may
run work in the project, charges its core-seconds as it goes, stops it when idle or asked,
and records the end. Servers die with the process that started them (`--die-with-parent`);
rows such a process left active are ended by `fail_orphans`.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from hopsworks_api import authz
from hopsworks_api.authz import Action, ProjectAccess
from hopsworks_api.backends.runner.base import JobRunner, Limits, RunHandle, RunSpec, Stream
from hopsworks_api.backends.runner.forward import platform_endpoints
from hopsworks_api.backends.runner.sockets import connect_path, http_transport
from hopsworks_api.datasets.models import Dataset
from hopsworks_api.db.base import utcnow
from hopsworks_api.db.unique import flush_unique
from hopsworks_api.environments import service as environments
from hopsworks_api.errors import AppError, BadRequest, Conflict, Forbidden, NotFound, Unavailable
from hopsworks_api.jobs import watch
from hopsworks_api.jobs.run_view import credential_files, dataset_mounts
from hopsworks_api.notebooks import in_cluster, lifecycle
from hopsworks_api.notebooks.lifecycle import base_url
from hopsworks_api.notebooks.models import (
    ACTIVE_STATES,
    LOG_TAIL_BYTES,
    JupyterRead,
    JupyterStart,
    NotebookResources,
    NotebookServer,
    NotebookState,
    NotebookUsage,
)
from hopsworks_api.notebooks.registry import LiveServer
from hopsworks_api.projects import service as project_service
from hopsworks_api.projects.models import Project
from hopsworks_api.quotas import accounting
from hopsworks_api.runtime import Runtime
from hopsworks_api.users.models import User

log = logging.getLogger(__name__)

JUPYTER_DATASET = "Jupyter"
SOCKET = "jupyter.sock"
PROBE_TIMEOUT_S = 30
READY_POLL_S = 0.1
STOP_WAIT_S = 15
RESTARTED = "the service process running it stopped"


def run_id(server_id: int) -> str:
    return f"notebook-{server_id}"


# --- reading ---------------------------------------------------------------------------


def _read(session: Session, row: NotebookServer, project: str) -> JupyterRead:
    user = session.get(User, row.user_id)
    return JupyterRead(
        user=user.email if user else "",
        state=NotebookState(row.state),
        url=base_url(project),
        environment=row.environment,
        idle_timeout_minutes=row.idle_timeout_minutes,
        resources=NotebookResources(cores=row.cores, memory_mb=row.memory_mb),
        started_at=row.started_at,
        last_activity_at=row.last_activity_at,
        stopped_at=row.stopped_at,
        stop_reason=row.stop_reason,
        log_tail=row.log_tail,
        usage=NotebookUsage(core_seconds=row.core_millis / 1000, credits=row.credits),
    )


def _mine(session: Session, access: ProjectAccess) -> NotebookServer | None:
    return session.scalar(
        select(NotebookServer).where(
            NotebookServer.project_id == access.project_id,
            NotebookServer.user_id == access.user_id,
        )
    )


def get(rt: Runtime, *, user: User, project: str) -> JupyterRead:
    """The caller's own server (running or how it ended), never anyone else's."""
    with rt.read_sessions() as session:
        access = project_service.authorize(
            session, project=project, user=user, action=Action.RUN_JOBS
        )
        row = _mine(session, access)
        if row is None:
            raise NotFound(f"you have no notebook server in project '{access.project}'")
        return _read(session, row, access.project)


def list_servers(rt: Runtime, *, user: User, project: str) -> list[JupyterRead]:
    """Every member's server: data owners only (they may stop them)."""
    with rt.read_sessions() as session:
        access = project_service.authorize(
            session, project=project, user=user, action=Action.STOP_OTHERS_WORK
        )
        rows = session.scalars(
            select(NotebookServer)
            .where(NotebookServer.project_id == access.project_id)
            .order_by(NotebookServer.id)
        ).all()
        return [_read(session, row, access.project) for row in rows]


# --- starting --------------------------------------------------------------------------


def _require_jupyterlab(python: Path, environment: str) -> None:
    probe = subprocess.run(  # noqa: S603 - the environment's own interpreter, no shell
        [
            str(python),
            "-c",
            "import importlib.util as u, sys; sys.exit(u.find_spec('jupyterlab') is None)",
        ],
        capture_output=True,
        timeout=PROBE_TIMEOUT_S,
        check=False,
    )
    if probe.returncode != 0:
        raise BadRequest(
            f"jupyterlab is not installed in environment '{environment}'",
            code="jupyterlab_missing",
        )


def _command(runner: JobRunner, python: Path, project: str) -> list[str]:
    return [
        str(python),
        "-m",
        "jupyterlab",
        "--no-browser",
        f"--ServerApp.sock={runner.scratch_dir}/{SOCKET}",
        "--ServerApp.sock_mode=0600",
        f"--ServerApp.base_url={base_url(project)}",
        f"--ServerApp.root_dir={runner.datasets_dir}/{JUPYTER_DATASET}",
        # only the service reaches the socket (the proxy authenticates the member); the
        # Host it sends is not a name Jupyter could check
        "--ServerApp.allow_remote_access=True",
        "--ServerApp.shutdown_no_activity_timeout=0",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]


def start(rt: Runtime, *, user: User, project: str, data: JupyterStart) -> JupyterRead:
    """Admit, record STARTING, start the server; the watcher makes it RUNNING (or FAILED
    with its log tail) once it answers. 409 while the caller already has one."""
    runner = rt.backends.runner
    runner.check()
    with rt.read_sessions() as read:
        access = project_service.authorize(read, project=project, user=user, action=Action.RUN_JOBS)
        found = read.scalar(
            select(Dataset.id).where(
                Dataset.project_id == access.project_id, Dataset.name == JUPYTER_DATASET
            )
        )
        if found is None:
            raise Conflict(
                f"project '{access.project}' has no '{JUPYTER_DATASET}' dataset to open",
                code="jupyter_dataset_missing",
            )
        mine = _mine(read, access)
        if mine is not None and mine.state in ACTIVE_STATES:
            raise Conflict(_running_message(mine, access.project), code="notebook_running")
        mounts = dataset_mounts(read, access)
    token = secrets.token_urlsafe(32)
    servers = rt.backends.servers
    if servers is not None:  # a Pod in the project's namespace (in_cluster)
        objects = in_cluster.render(rt, servers, access, mounts, data, token)
    else:
        python = environments.python_for(rt, project_id=access.project_id, name=data.environment)
        _require_jupyterlab(python, data.environment)
        files = credential_files(rt, runner, access, user=user, project=project)
    idle = data.idle_timeout_minutes or rt.settings.notebook_idle_timeout_minutes
    with rt.sessions() as session:
        access = project_service.locked_access(
            rt, session, user=user, project=project, action=Action.RUN_JOBS
        )
        accounting.admit_compute(session, project_id=access.project_id, project=access.project)
        row = session.scalar(
            select(NotebookServer)
            .where(
                NotebookServer.project_id == access.project_id,
                NotebookServer.user_id == access.user_id,
            )
            .with_for_update()
        )
        if row is not None and row.state in ACTIVE_STATES:
            raise Conflict(_running_message(row, access.project), code="notebook_running")
        if row is None:
            row = NotebookServer(project_id=access.project_id, user_id=access.user_id)
            session.add(row)
        now = utcnow()
        row.state = NotebookState.STARTING.value
        row.environment = data.environment
        row.idle_timeout_minutes = idle
        row.cores = data.resources.cores
        row.memory_mb = data.resources.memory_mb
        row.instance = rt.executions.instance
        row.started_at = now
        row.charged_until = now
        row.last_activity_at = row.stopped_at = row.stop_reason = row.log_tail = None
        row.core_millis = row.credits = 0
        flush_unique(session, f"you already have a notebook server in project '{project}'")
        server_id = row.id
        rt.notebooks.forget(server_id)  # a stop asked of an earlier start that failed
        session.commit()
    if servers is not None:
        in_cluster.launch(
            rt,
            servers,
            server_id=server_id,
            access=access,
            started_at=now,
            token=token,
            objects=objects,
        )
        return get(rt, user=user, project=project)
    spec = RunSpec(
        run_id=run_id(server_id),
        project=access.project,
        identity=access.identity,
        interpreter=python,
        argv=_command(runner, python, access.project),
        mounts=mounts,
        credentials=files,
        env={
            # read by jupyter-server at start; only this process and the sandbox know it
            "JUPYTER_TOKEN": token,
            "JUPYTER_PLATFORM_DIRS": "1",
            "SHELL": "/bin/bash",
        },
        endpoints=platform_endpoints(rt.settings),
        limits=Limits(cores=data.resources.cores, memory_mb=data.resources.memory_mb),
    )
    handle: RunHandle | None = None
    try:
        handle = runner.start(spec)
        connect, link_dir = connect_path(runner.scratch_path(handle) / SOCKET)
    except Exception as exc:
        if handle is not None:  # started, but cannot be reached: it goes
            runner.kill(handle)
            runner.wait(handle)
        leftover = handle or runner.leftover(spec.run_id)
        if leftover is not None:  # what the runner made for it, credentials first
            runner.cleanup(leftover)
        rt.notebooks.forget(server_id)
        failed = NotebookState.FAILED
        lifecycle.end(rt, server_id, now, state=failed, reason="could not start", tail=str(exc))
        if isinstance(exc, AppError):
            raise
        raise Unavailable(f"the notebook server could not start: {exc}") from exc
    live = LiveServer(
        server_id=server_id,
        project=access.project,
        project_id=access.project_id,
        user_id=access.user_id,
        started_at=now,
        handle=handle,
        socket_path=connect,
        link_dir=link_dir,
        token=token,
    )
    watcher = threading.Thread(
        target=_watch, args=(rt, runner, live), name=f"notebook-{server_id}", daemon=True
    )
    rt.notebooks.add(server_id, live)
    watcher.start()
    return get(rt, user=user, project=project)


def _running_message(row: NotebookServer, project: str) -> str:
    return f"you already have a notebook server in project '{project}' ({row.state})"


# --- the watcher -----------------------------------------------------------------------


def _tail(runner: JobRunner, handle: RunHandle) -> str:
    parts = []
    for stream in (Stream.STDOUT, Stream.STDERR):
        with contextlib.suppress(FileNotFoundError):
            data = runner.log_path(handle, stream).read_bytes()[-LOG_TAIL_BYTES:]
            parts.append(data.decode(errors="replace"))
    return "".join(parts)[-LOG_TAIL_BYTES:]


def _watch(rt: Runtime, runner: JobRunner, live: LiveServer) -> None:
    """The server's life from its start to its end; the end is recorded only once its
    processes, credentials and run directory are gone, so STOPPED/FAILED means nothing of
    it is left."""
    state, reason, tail = NotebookState.FAILED, "its watcher failed", ""
    try:
        failure = _run(rt, runner, live)
        outcome = runner.wait(live.handle)
        if failure is None and not live.stop.is_set():
            failure = f"the server exited (exit code {outcome.exit_code})"
        if failure is not None and not live.ready.is_set():
            failure = f"the server did not start: {failure}"
        state = NotebookState.FAILED if failure else NotebookState.STOPPED
        reason = failure or live.reason
        tail = _tail(runner, live.handle) if failure else None
    except Exception:
        log.exception("the watcher of notebook server %s failed", live.server_id)
        with contextlib.suppress(Exception):
            runner.kill(live.handle)
            runner.wait(live.handle)
        with contextlib.suppress(Exception):
            tail = _tail(runner, live.handle)
    finally:
        runner.cleanup(live.handle)
        if live.link_dir is not None:
            shutil.rmtree(live.link_dir, ignore_errors=True)
        lifecycle.finish(rt, live, state=state, reason=reason, tail=tail)


def _run(rt: Runtime, runner: JobRunner, live: LiveServer) -> str | None:
    """Wait for the server to answer, then check it every `notebook_check_seconds` (and at
    once when asked to stop) until it ends or must; stop it. A failure to start, or None."""
    settings = rt.settings
    deadline = time.monotonic() + settings.notebook_start_timeout_seconds
    next_check = time.monotonic()
    failure: str | None = None
    transport = http_transport(live.socket_path)
    with httpx.Client(transport=transport, base_url="http://localhost", timeout=10) as http:
        while runner.poll(live.handle) is None and not live.stop.is_set():
            now = time.monotonic()
            if now >= next_check:  # while it starts too: a member may leave meanwhile
                next_check = now + settings.notebook_check_seconds
                status = lifecycle.jupyter_status(http, live) if live.ready.is_set() else None
                lifecycle.check(rt, live, status)
                continue
            if live.ready.is_set():
                live.stop.wait(next_check - now)
            elif lifecycle.jupyter_status(http, live) is not None:
                lifecycle.mark_running(rt, live)
                live.ready.set()
            elif now > deadline:
                failure = f"did not answer within {settings.notebook_start_timeout_seconds:g} s"
                break
            else:
                live.stop.wait(min(READY_POLL_S, next_check - now))
    if runner.poll(live.handle) is None:
        if live.stop.is_set() and failure is None:
            lifecycle.set_state(rt, live, NotebookState.STOPPING)
        runner.kill(live.handle)
    return failure


# --- stopping --------------------------------------------------------------------------


def _stop_row(rt: Runtime, row_id: int, instance: str, state: str, who: str) -> None:
    """Ask the watcher to stop the server and wait for it (bounded). A server this process
    is starting right now is stopped as soon as it is registered; one of a process that is
    gone is recorded as ended; one run by another live instance is 503."""
    if state not in ACTIVE_STATES:
        return
    if instance != rt.executions.instance:
        if not watch.is_gone(rt, instance):
            raise Unavailable(
                f"the notebook server runs on another instance of the service ({instance})",
                code="notebook_elsewhere",
            )
        _end_orphan(rt, row_id, instance)
        return
    rt.notebooks.request_stop(row_id, who)
    deadline = time.monotonic() + STOP_WAIT_S
    while (live := rt.notebooks.get(row_id)) is None:
        if not _active_here(rt, row_id) or time.monotonic() > deadline:
            return  # its start failed (recorded so), or it never got this far
        time.sleep(READY_POLL_S)
    if not live.done.wait(max(0.0, deadline - time.monotonic())):
        raise Unavailable("the notebook server did not stop in time; it is still stopping")


def _active_here(rt: Runtime, row_id: int) -> bool:
    with rt.read_sessions() as session:
        row = session.get(NotebookServer, row_id)
        return (
            row is not None
            and row.state in ACTIVE_STATES
            and row.instance == rt.executions.instance
        )


def stop(rt: Runtime, *, user: User, project: str) -> None:
    with rt.read_sessions() as session:
        access = project_service.authorize(
            session, project=project, user=user, action=Action.RUN_JOBS
        )
        row = _mine(session, access)
        if row is None:
            raise NotFound(f"you have no notebook server in project '{access.project}'")
        row_id, instance, state = row.id, row.instance, row.state
    _stop_row(rt, row_id, instance, state, "stopped by its member")


def stop_member(rt: Runtime, *, user: User, project: str, email: str) -> None:
    """A data owner stops another member's server (a data scientist gets 403)."""
    with rt.read_sessions() as session:
        access = project_service.authorize(
            session, project=project, user=user, action=Action.RUN_JOBS
        )
        if email.lower() != user.email.lower() and not authz.allowed(
            access, Action.STOP_OTHERS_WORK
        ):
            raise Forbidden(
                f"a {access.role.value if access.role else 'non-member'} may stop only their "
                f"own notebook server in project '{project}'"
            )
        row = session.scalar(
            select(NotebookServer)
            .join(User, User.id == NotebookServer.user_id)
            .where(NotebookServer.project_id == access.project_id, User.email == email.lower())
        )
        if row is None:
            raise NotFound(f"'{email}' has no notebook server in project '{access.project}'")
        row_id, instance, state = row.id, row.instance, row.state
    _stop_row(rt, row_id, instance, state, f"stopped by {user.email}")


def stop_all(rt: Runtime) -> None:
    rt.notebooks.stop_all("the service stopped", STOP_WAIT_S)


# --- the proxy's target ----------------------------------------------------------------


@dataclass(frozen=True)
class ProxyTarget:
    """Where the proxy reaches the member's Jupyter: the embedded server's unix socket, or
    `url`, a server in a cluster (its Service, `http://<name>.<namespace>.svc:8888`)."""

    socket_path: Path | None
    token: str
    url: str | None = None


def proxy_target(rt: Runtime, *, user: User, project: str) -> ProxyTarget:
    """The caller's own running server: the proxy's URL names no server, so nobody, not
    even another member of the project, can address anyone's but their own."""
    with rt.read_sessions() as session:
        access = project_service.authorize(
            session, project=project, user=user, action=Action.RUN_JOBS
        )
        row = _mine(session, access)
        row_id = row.id if row is not None else None
        state = row.state if row is not None else None
        instance = row.instance if row is not None else None
    if row_id is None or state in (NotebookState.STOPPED, NotebookState.FAILED):
        raise NotFound(f"you have no running notebook server in project '{access.project}'")
    live = rt.notebooks.get(row_id)
    if live is None and instance != rt.executions.instance:
        raise Unavailable(
            f"the notebook server runs on another instance of the service ({instance})",
            code="notebook_elsewhere",
        )
    if live is None or not live.ready.is_set() or live.stop.is_set():
        raise Conflict(f"the notebook server is {state}, not RUNNING", code="notebook_not_running")
    return ProxyTarget(socket_path=live.socket_path, token=live.token, url=live.url)


# --- reconciliation --------------------------------------------------------------------


def _end_orphan(rt: Runtime, server_id: int, instance: str) -> None:
    """End a server that died with the service process `instance` (unless the row was
    started again since, by another); its usage was charged up to that process's last check.
    Its run directory (credentials) goes too; in a cluster, where the Pod did not die with
    the process, its objects are deleted first, the row locked meanwhile (a new start of the
    member's server waits for it), and the row stays active while they cannot be."""
    with rt.sessions() as session:
        row = session.scalar(
            select(NotebookServer).where(NotebookServer.id == server_id).with_for_update()
        )
        if row is None or row.state not in ACTIVE_STATES or row.instance != instance:
            return
        servers = rt.backends.servers
        if servers is not None:
            project = session.get(Project, row.project_id)
            member = session.get(User, row.user_id)
            if project is not None and member is not None:
                in_cluster.delete_objects(servers, project.name, member.username)
        row.state = NotebookState.STOPPED.value
        row.stopped_at = utcnow()
        row.stop_reason = RESTARTED
        session.commit()
    leftover = rt.backends.runner.leftover(run_id(server_id))
    if leftover is not None:
        rt.backends.runner.cleanup(leftover)


def fail_orphans(rt: Runtime) -> int:
    """End the servers whose service process is gone (they died with it: `--die-with-parent`);
    servers of live instances are theirs to watch. Run by the lease holder."""
    with rt.read_sessions() as session:
        rows = session.execute(
            select(NotebookServer.id, NotebookServer.instance).where(
                NotebookServer.state.in_(ACTIVE_STATES)
            )
        ).all()
    ended = 0
    mine = rt.notebooks.running()
    for server_id, instance in rows:
        if server_id in mine or instance == rt.executions.instance:
            continue
        if not watch.is_gone(rt, instance):
            continue
        _end_orphan(rt, server_id, instance)
        ended += 1
    return ended


def reconcile(rt: Runtime) -> int:
    """When this instance takes the lead: `fail_orphans`, and in a cluster the notebook
    objects no active row accounts for are deleted (`in_cluster.delete_orphans`)."""
    ended = fail_orphans(rt)
    if rt.backends.servers is not None:
        in_cluster.delete_orphans(rt, rt.backends.servers)
    return ended
