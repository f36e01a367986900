"""Serving use cases: create, start, stop and delete servings of registered model versions,
and resolve which model server a prediction goes to.

Each instance of a serving is a run of the job runner (the same sandbox as an execution,
as the member who started it) whose program is KServe's Python model server
(`launcher.py`, in the model-server environment: `model_server_env`) listening on a unix
socket in its scratch directory. It sees only the project's `Models` dataset, read-only,
and no network and no credentials: it needs nothing else. The version's files are checked
against the registry's manifest before anything starts (a changed or missing file: FAILED,
no process), and the served file's bytes again by the server as it loads them.

A watcher thread per serving (`_watch`) sees every instance answer (RUNNING), charges
cores x instances x seconds as it goes, stops the serving when its member may no longer run
work in the project (the project deleted included) or the credits are spent, and records
the end; an instance that exits or a server that does not answer in time makes the serving
FAILED with its log tail, every instance stopped. Servings die with the process that
started them (`--die-with-parent`); rows such a process left active are ended by
`fail_orphans`.

With HOPS_JOB_RUNNER=kubernetes (`rt.backends.servers`) a serving is KServe's
`InferenceService` in the project's namespace instead (`cluster.py` renders it, within the
namespace's ResourceQuota; `KubernetesServers` validates it against KServe's CRD schema,
checks the quota's free room and creates it). Its watcher (`_watch_cluster`) polls its
status: Ready with a URL -> RUNNING, the URL kept on the row; KServe's failure, a deadline
missed or the object gone -> FAILED with KServe's message as the log tail. It charges,
checks and stops as the embedded watcher does, and deletes the InferenceService when the
serving ends (the service's own stop included: servings do not outlive the process that
watches and charges them). Any instance predicts through the URL. The lease holder deletes
InferenceServices no active serving owns (`_delete_orphan_inference_services`).

Creating a serving first makes sure the project has its inference-log topic
(`inference_log`: a full topic quota refuses the serving); `predict_target` says whether
it still exists, and the view writes each exchange to it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import shutil
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hopsworks_api.authz import Action, ProjectAccess
from hopsworks_api.backends.kubernetes.base import namespace_for
from hopsworks_api.backends.runner.base import (
    DatasetMount,
    JobRunner,
    Limits,
    RunSpec,
    Stream,
)
from hopsworks_api.backends.runner.sockets import connect_path, http_transport
from hopsworks_api.config import Settings
from hopsworks_api.db.base import utcnow
from hopsworks_api.db.unique import flush_unique
from hopsworks_api.errors import AppError, BadRequest, Conflict, NotFound, Unavailable
from hopsworks_api.jobs import watch
from hopsworks_api.model_registry import service as registry
from hopsworks_api.model_registry.models import MODELS_DATASET, Framework, ModelFile, ModelVersion
from hopsworks_api.projects import service as project_service
from hopsworks_api.projects.models import Project
from hopsworks_api.quotas import accounting
from hopsworks_api.quotas.models import ProjectQuota
from hopsworks_api.runtime import Runtime
from hopsworks_api.servings import cluster, inference_log, model_server_env
from hopsworks_api.servings.models import (
    ACTIVE_STATES,
    LOG_TAIL_BYTES,
    Serving,
    ServingCreate,
    ServingRead,
    ServingResources,
    ServingState,
    ServingUsage,
)
from hopsworks_api.servings.registry import LiveServing
from hopsworks_api.topics.models import Topic
from hopsworks_api.users.models import User

if TYPE_CHECKING:
    from hopsworks_api.backends.runner.kubernetes_servers import (
        KubernetesServers,
        ServingStatus,
    )

log = logging.getLogger(__name__)

SOCKET = "model.sock"
READY_POLL_S = 0.1
STOP_WAIT_S = 15
RESTARTED = "the service process running it stopped"
SKLEARN_SUFFIXES = (".joblib", ".pkl", ".pickle")
PYTHON_PREDICTOR = "predictor.py"
SERVABLE = (Framework.SKLEARN, Framework.PYTHON)
ELSEWHERE_RETRY_S = "1"


def predict_url(project: str, name: str) -> str:
    return f"/api/projects/{quote(project, safe='')}/servings/{name}:predict"


def run_id(serving_id: int, index: int) -> str:
    return f"serving-{serving_id}-{index}"


# --- reading ---------------------------------------------------------------------------


def _framework(session: Session, row: Serving) -> str | None:
    return session.scalar(
        select(ModelVersion.framework).where(
            ModelVersion.project_id == row.project_id,
            ModelVersion.name == row.model,
            ModelVersion.version == row.version,
        )
    )


def _read(session: Session, row: Serving, project: str) -> ServingRead:
    by = session.get(User, row.started_by) if row.started_by else None
    return ServingRead(
        name=row.name,
        model=row.model,
        version=row.version,
        framework=_framework(session, row),
        instances=row.instances,
        resources=ServingResources(cores=row.cores, memory_mb=row.memory_mb, gpus=row.gpus),
        state=ServingState(row.state),
        predict_url=predict_url(project, row.name),
        started_by=by.email if by else None,
        started_at=row.started_at,
        stopped_at=row.stopped_at,
        stop_reason=row.stop_reason,
        log_tail=row.log_tail,
        usage=ServingUsage(core_seconds=row.core_millis / 1000, credits=row.credits),
        created_at=row.created_at,
    )


def _serving(session: Session, access: ProjectAccess, name: str) -> Serving:
    row = session.scalar(
        select(Serving).where(Serving.project_id == access.project_id, Serving.name == name)
    )
    if row is None:
        raise NotFound(f"serving '{name}' not found in project '{access.project}'")
    return row


def list_servings(rt: Runtime, *, user: User, project: str) -> list[ServingRead]:
    with rt.read_sessions() as session:
        access = project_service.authorize(
            session, project=project, user=user, action=Action.VIEW_PROJECT
        )
        rows = session.scalars(
            select(Serving).where(Serving.project_id == access.project_id).order_by(Serving.name)
        ).all()
        return [_read(session, row, access.project) for row in rows]


def get(rt: Runtime, *, user: User, project: str, name: str) -> ServingRead:
    with rt.read_sessions() as session:
        access = project_service.authorize(
            session, project=project, user=user, action=Action.VIEW_PROJECT
        )
        return _read(session, _serving(session, access, name), access.project)


# --- what a start loads ----------------------------------------------------------------


@dataclass(frozen=True)
class _Load:
    """What the model server loads: the version's directory in the sandbox, the one file it
    loads and that file's registered SHA-256."""

    directory: str
    file: str
    sha256: str
    framework: Framework


def _version_row(session: Session, access: ProjectAccess, model: str, version: int) -> ModelVersion:
    row = session.scalar(
        select(ModelVersion).where(
            ModelVersion.project_id == access.project_id,
            ModelVersion.name == model,
            ModelVersion.version == version,
        )
    )
    if row is None:
        raise NotFound(
            f"model '{model}' has no version {version} in project '{access.project}'",
            code="model_version_not_found",
        )
    framework = Framework(row.framework)
    if framework not in SERVABLE:
        raise BadRequest(
            f"model '{model}' version {version} is a {framework.value} model; the model "
            f"server loads {', '.join(f.value for f in SERVABLE)} models",
            code="unsupported_framework",
        )
    return row


def _check_files(rt: Runtime, project: str, row: ModelVersion) -> _Load | str:
    """Compare the version's files with its manifest; what to load, or why not (the
    message a FAILED serving shows)."""
    registered = [ModelFile.model_validate(f) for f in json.loads(row.manifest_json)]
    framework = Framework(row.framework)
    if framework == Framework.SKLEARN:
        candidates = [f for f in registered if f.path.endswith(SKLEARN_SUFFIXES)]
        if len(candidates) != 1:
            return (
                f"a scikit-learn version needs exactly one model file "
                f"({', '.join(SKLEARN_SUFFIXES)}); {row.path} has {len(candidates)}"
            )
    else:
        candidates = [f for f in registered if f.path == PYTHON_PREDICTOR]
        if not candidates:
            return f"a python version needs a {PYTHON_PREDICTOR} in {row.path}"
    directory = registry.version_directory(row.path)
    try:
        current = registry.manifest(rt.backends.storage, project, directory)
    except BadRequest as exc:
        return f"the version's files are gone: {exc.message}"
    now = {f.path: f for f in current}
    problems = []
    for f in registered:
        found = now.get(f.path)
        if found is None:
            problems.append(f"{f.path} is missing")
        elif found.sha256 != f.sha256:
            problems.append(
                f"{f.path} changed (sha256 {found.sha256[:12]}..., registered {f.sha256[:12]}...)"
            )
    if problems:
        return (
            f"the files of model '{row.name}' version {row.version} no longer match what was "
            f"registered: {'; '.join(problems)}"
        )
    return _Load(
        directory="/".join(directory),
        file=candidates[0].path,
        sha256=candidates[0].sha256,
        framework=framework,
    )


def _model_server(rt: Runtime) -> Path:
    python = model_server_env.installed(rt.settings)
    if python is None:
        raise Unavailable(
            "the model server environment is not installed; build it with "
            "`python -m hopsworks_api.servings.model_server_env` or set "
            "HOPS_MODEL_SERVER_PYTHON",
            code="model_server_unavailable",
        )
    return python


# --- creating and starting -------------------------------------------------------------


def create(
    rt: Runtime, *, user: User, project: str, data: ServingCreate, start_now: bool = True
) -> ServingRead:
    """Record the serving and start it; 201 whether it starts or is FAILED at once (its
    files do not match the registry), so the caller sees why in the serving itself.
    `start_now=False` records it STOPPED (the SDK deploys first and starts later)."""
    with rt.read_sessions() as read:
        access = project_service.authorize(
            read, project=project, user=user, action=Action.SERVE_MODELS
        )
        _version_row(read, access, data.model, data.version)
    inference_log.ensure_topic(rt, user=user, project=project)  # 413 when the quota is full
    with rt.sessions() as session:
        access = project_service.locked_access(
            rt, session, user=user, project=project, action=Action.SERVE_MODELS
        )
        row = Serving(
            project_id=access.project_id,
            name=data.name,
            model=data.model,
            version=data.version,
            instances=data.instances,
            cores=data.resources.cores,
            memory_mb=data.resources.memory_mb,
            gpus=data.resources.gpus,
            state=ServingState.STOPPED.value,
            started_by=user.id,
        )
        session.add(row)
        flush_unique(session, f"a serving named '{data.name}' exists in project '{project}'")
        session.commit()
    if not start_now:
        return get(rt, user=user, project=project, name=data.name)
    try:
        return start(rt, user=user, project=project, name=data.name)
    except BaseException:
        _discard(rt, access.project_id, data.name)  # refused or not started: never half-created
        raise


def _discard(rt: Runtime, project_id: int, name: str) -> None:
    with rt.sessions() as session:
        row = session.scalar(
            select(Serving).where(Serving.project_id == project_id, Serving.name == name)
        )
        if row is not None and row.state not in ACTIVE_STATES:
            session.delete(row)
            session.commit()


def start(rt: Runtime, *, user: User, project: str, name: str) -> ServingRead:
    """Admit, check the files, record STARTING, start every instance; the watcher makes it
    RUNNING (or FAILED with the log tail) once all of them answer. 409 while it is active.
    On Kubernetes: the InferenceService, rendered (413 beyond the namespace's quota) before
    anything is recorded, created once the row is STARTING."""
    runner, servers = rt.backends.runner, rt.backends.servers
    runner.check()
    with rt.read_sessions() as read:
        access = project_service.authorize(
            read, project=project, user=user, action=Action.SERVE_MODELS
        )
        row = _serving(read, access, name)
        if row.state in ACTIVE_STATES:
            raise Conflict(f"serving '{name}' is {row.state}", code="serving_active")
        version = _version_row(read, access, row.model, row.version)
        serving_id, instances = row.id, row.instances
        cores, memory_mb, gpus = row.cores, row.memory_mb, row.gpus
    python = _model_server(rt) if servers is None else None
    load = _check_files(rt, access.project, version)
    isvc: dict[str, Any] | None = None
    if servers is not None and not isinstance(load, str):
        isvc = _inference_service(
            servers,
            rt.settings,
            access,
            name,
            load,
            instances=instances,
            cores=cores,
            memory_mb=memory_mb,
            gpus=gpus,
        )
    with rt.sessions() as session:
        access = project_service.locked_access(
            rt, session, user=user, project=project, action=Action.SERVE_MODELS
        )
        accounting.admit_compute(
            session, project_id=access.project_id, project=access.project, gpus=gpus * instances
        )
        # the version's row locked: a deletion of it waits for this start, then sees it used
        if (
            session.scalar(
                select(ModelVersion.id).where(ModelVersion.id == version.id).with_for_update()
            )
            is None
        ):
            raise NotFound(f"model '{version.name}' version {version.version} was deleted")
        row = session.scalar(select(Serving).where(Serving.id == serving_id).with_for_update())
        if row is None:
            raise NotFound(f"serving '{name}' not found in project '{access.project}'")
        if row.state in ACTIVE_STATES:
            raise Conflict(f"serving '{name}' is {row.state}", code="serving_active")
        now = utcnow()
        row.started_by = user.id
        row.instance = rt.executions.instance
        row.started_at = row.charged_until = now
        row.core_millis = row.credits = 0
        row.url = None
        if isinstance(load, str):
            row.state = ServingState.FAILED.value
            row.stopped_at = now
            row.stop_reason = load[:255]
            row.log_tail = load
        else:
            row.state = ServingState.STARTING.value
            row.stopped_at = row.stop_reason = row.log_tail = None
        session.commit()
    if isinstance(load, str):
        return get(rt, user=user, project=project, name=name)
    live = LiveServing(
        serving_id=serving_id,
        name=name,
        project=access.project,
        project_id=access.project_id,
        user_id=access.user_id,
        started_at=now,
    )
    if servers is not None and isvc is not None:
        _start_on_cluster(rt, servers, live, isvc)
        return get(rt, user=user, project=project, name=name)
    assert python is not None
    launcher = model_server_env.launcher(python)
    try:
        for index in range(instances):
            spec = RunSpec(
                run_id=run_id(serving_id, index),
                project=access.project,
                identity=access.identity,
                interpreter=python,
                argv=[str(python), "-I", str(launcher), _config(runner, name, load)],
                mounts=[DatasetMount(MODELS_DATASET, writable=False)],
                limits=Limits(cores=cores, memory_mb=memory_mb),
            )
            handle = runner.start(spec)
            live.handles.append(handle)
            connect, link_dir = connect_path(runner.scratch_path(handle) / SOCKET)
            live.sockets.append(connect)
            if link_dir is not None:
                live.link_dirs.append(link_dir)
    except Exception as exc:
        _release(runner, live)
        _end(rt, live, state=ServingState.FAILED, reason="could not start", tail=str(exc))
        if isinstance(exc, AppError):
            raise
        raise Unavailable(f"serving '{name}' could not start: {exc}") from exc
    rt.servings.add(live.serving_id, live)
    threading.Thread(
        target=_watch, args=(rt, runner, live), name=f"serving-{serving_id}", daemon=True
    ).start()
    return get(rt, user=user, project=project, name=name)


def _config(runner: JobRunner, name: str, load: _Load) -> str:
    return json.dumps(
        {
            "name": name,
            "socket": f"{runner.scratch_dir}/{SOCKET}",
            "framework": load.framework.value,
            "directory": f"{runner.datasets_dir}/{MODELS_DATASET}/{load.directory}",
            "file": load.file,
            "sha256": load.sha256,
        }
    )


# --- on Kubernetes ---------------------------------------------------------------------


def _inference_service(
    servers: KubernetesServers,
    settings: Settings,
    access: ProjectAccess,
    name: str,
    load: _Load,
    *,
    instances: int,
    cores: int,
    memory_mb: int,
    gpus: int,
) -> dict[str, Any]:
    """The serving's InferenceService, bounded by the namespace's quota as the cluster holds
    it (413 when the serving alone asks for more). 503 when it could not be checked: no
    CRD schema configured (it is never sent unvalidated) or no quota in the namespace yet
    (the kubernetes provisioning system makes it with the project)."""
    if not servers.crd_schemas:
        raise Unavailable(
            "servings on Kubernetes need KServe's CRD schema (HOPS_KUBERNETES_KSERVE_CRD_SCHEMA)",
            code="serving_unavailable",
        )
    namespace = namespace_for(access.project)
    quota = servers.namespace_quota(namespace)
    if quota is None:
        raise Unavailable(
            f"the project's namespace {namespace} has no ResourceQuota yet: try again once "
            "the project is provisioned",
            code="namespace_not_ready",
        )
    spec = cluster.ClusterServing(
        project=access.project,
        username=access.username,
        name=name,
        framework=load.framework.value,
        directory=load.directory,
        instances=instances,
        cores=cores,
        memory_mb=memory_mb,
        gpus=gpus,
        datasets_claim=settings.kubernetes_datasets_claim,
        python_image=settings.kubernetes_model_server_image,
    )
    return cluster.inference_service(spec, quota)


def _start_on_cluster(
    rt: Runtime, servers: KubernetesServers, live: LiveServing, isvc: dict[str, Any]
) -> None:
    """Create the InferenceService (the row is STARTING: no orphan sweep takes it) and
    watch it. One of this name left by an earlier run goes first: the row was not active,
    so nothing owns it. A refusal (the quota's free room, 409) ends the run FAILED."""
    namespace = isvc["metadata"]["namespace"]
    live.namespace = namespace
    try:
        if servers.serving_status(namespace, live.name) is not None:
            servers.stop_serving(namespace, live.name)
        servers.start_serving(isvc)
    except Exception as exc:
        _end(rt, live, state=ServingState.FAILED, reason="could not start", tail=str(exc))
        if isinstance(exc, AppError):
            raise
        raise Unavailable(f"serving '{live.name}' could not start: {exc}") from exc
    rt.servings.add(live.serving_id, live)
    threading.Thread(
        target=_watch_cluster,
        args=(rt, servers, live),
        name=f"serving-{live.serving_id}",
        daemon=True,
    ).start()


def _watch_cluster(rt: Runtime, servers: KubernetesServers, live: LiveServing) -> None:
    """Poll the InferenceService until the serving ends; then delete it and record the end.
    An API server that does not answer for a while is waited out (the serving goes on)."""
    settings = rt.settings
    namespace = live.namespace or namespace_for(live.project)
    deadline = time.monotonic() + settings.serving_start_timeout_seconds
    next_check = time.monotonic() + settings.serving_check_seconds
    failure: str | None = None
    try:
        while not live.stop.is_set():
            status: ServingStatus | None = None
            try:
                status = servers.serving_status(namespace, live.name)
                if status is None:
                    failure = "its InferenceService was deleted"
                    break
            except AppError as exc:  # the API server: seen again at the next poll
                log.warning("serving %s: %s", live.serving_id, exc.message)
            if status is not None and status.failed:
                failure = f"KServe could not serve it: {status.message or 'no reason given'}"
                break
            if not live.ready.is_set():
                if status is not None and status.ready and status.url:
                    _set_running(rt, live, status.url)
                    live.ready.set()
                elif time.monotonic() > deadline:
                    said = f": {status.message}" if status is not None and status.message else ""
                    failure = f"not Ready within {settings.serving_start_timeout_seconds:g} s{said}"
                    break
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + settings.serving_check_seconds
                _check(rt, live)
                continue
            live.stop.wait(min(servers.poll_seconds, max(0.0, next_check - time.monotonic())))
        if failure is None:
            _set_state(rt, live, ServingState.STOPPING, *ACTIVE_STATES)
        elif not live.ready.is_set():
            failure = f"the model server did not start: {failure}"
        with contextlib.suppress(Exception):  # else the lease holder's sweep deletes it
            servers.stop_serving(namespace, live.name)
        state = ServingState.FAILED if failure else ServingState.STOPPED
        _end(rt, live, state=state, reason=failure or live.reason, tail=failure)
    except Exception:
        log.exception("the watcher of serving %s failed", live.serving_id)
        with contextlib.suppress(Exception):
            servers.stop_serving(namespace, live.name)
        with contextlib.suppress(Exception):
            _end(rt, live, state=ServingState.FAILED, reason="its watcher failed", tail=None)
    finally:
        rt.servings.forget(live.serving_id)
        live.done.set()


def _set_running(rt: Runtime, live: LiveServing, url: str) -> None:
    with rt.sessions() as session:
        session.execute(
            update(Serving)
            .where(
                Serving.id == live.serving_id,
                Serving.started_at == live.started_at,
                Serving.state == ServingState.STARTING.value,
            )
            .values(state=ServingState.RUNNING.value, url=url)
        )
        session.commit()


def _delete_orphan_inference_services(rt: Runtime, servers: KubernetesServers) -> list[str]:
    """Delete the platform's InferenceServices that no active serving owns (left by a
    process that died, or by a deletion that failed). They are listed before the active
    rows are read: a serving is STARTING before its InferenceService is created, so one
    being started is never taken for an orphan."""
    with rt.read_sessions() as session:
        projects = session.scalars(select(Project.name)).all()
    found = {
        (namespace_for(project), name)
        for project in projects
        for name in servers.serving_names(namespace_for(project))
    }
    with rt.read_sessions() as session:
        active = session.execute(
            select(Project.name, Serving.name)
            .join(Project, Project.id == Serving.project_id)
            .where(Serving.state.in_(ACTIVE_STATES))
        ).all()
    keep = {(namespace_for(project), name) for project, name in active}
    deleted = []
    for namespace, name in sorted(found - keep):
        servers.stop_serving(namespace, name)
        deleted.append(f"{namespace}/{name}")
    return deleted


# --- the watcher -----------------------------------------------------------------------


def _ready(socket_path: Path, name: str) -> bool:
    try:
        with httpx.Client(transport=http_transport(socket_path), timeout=5) as http:
            reply = http.get(f"http://localhost/v1/models/{name}")
    except httpx.HTTPError:
        return False
    return reply.status_code == 200 and reply.json().get("ready") is True


def _charge(session: Session, live: LiveServing, until: datetime) -> Serving | None:
    """Charge cores x instances x seconds from the start up to `until` (what was charged
    before is subtracted), the quota row locked first, as every charge takes it; None if
    the row is not this run of the serving any more."""
    quota = session.get(ProjectQuota, live.project_id, with_for_update=True)
    row = session.scalar(select(Serving).where(Serving.id == live.serving_id).with_for_update())
    if row is None or row.started_at != live.started_at or row.state not in ACTIVE_STATES:
        return None
    seconds = max(0.0, (until - live.started_at).total_seconds())
    millis = round(row.cores * row.instances * seconds * 1000)
    credits = math.ceil(millis / 1000)
    if quota is not None:
        quota.compute_seconds_used += max(0, credits - row.credits)
    row.core_millis, row.credits, row.charged_until = millis, max(row.credits, credits), until
    return row


def _check(rt: Runtime, live: LiveServing) -> None:
    with rt.sessions() as session:
        row = _charge(session, live, utcnow())
        session.commit()
    if row is None:
        live.reason = "its record is gone"
        live.stop.set()
        return
    with rt.read_sessions() as session:
        if not watch.may_run(session, live.project_id, live.user_id):
            live.reason = "the member who started it may no longer run work in the project"
            live.stop.set()
            return
        quota = session.get(ProjectQuota, live.project_id)
        if quota is not None and accounting.over_credits(quota):
            live.reason = "the project's compute credits are spent"
            live.stop.set()


def _tail(runner: JobRunner, live: LiveServing) -> str:
    parts = []
    for index, handle in enumerate(live.handles):
        for stream in (Stream.STDOUT, Stream.STDERR):
            with contextlib.suppress(FileNotFoundError):
                data = runner.log_path(handle, stream).read_bytes()[-LOG_TAIL_BYTES:]
                if data:
                    parts.append(f"--- instance {index} {stream.value}\n")
                    parts.append(data.decode(errors="replace"))
    return "".join(parts)[-LOG_TAIL_BYTES:]


def _exited(runner: JobRunner, live: LiveServing) -> str | None:
    for index, handle in enumerate(live.handles):
        outcome = runner.poll(handle)
        if outcome is not None:
            return f"instance {index} exited (exit code {outcome.exit_code})"
    return None


def _watch(rt: Runtime, runner: JobRunner, live: LiveServing) -> None:
    settings = rt.settings
    deadline = time.monotonic() + settings.serving_start_timeout_seconds
    next_check = time.monotonic() + settings.serving_check_seconds
    failure: str | None = None
    try:
        pending = set(range(len(live.handles)))
        while not live.stop.is_set():
            failure = _exited(runner, live)
            if failure is not None:
                break
            if pending:
                pending = {i for i in pending if not _ready(live.sockets[i], live.name)}
                if not pending:
                    _set_state(rt, live, ServingState.RUNNING, ServingState.STARTING)
                    live.ready.set()
                elif time.monotonic() > deadline:
                    failure = f"did not answer within {settings.serving_start_timeout_seconds:g} s"
                    break
                else:
                    live.stop.wait(READY_POLL_S)
                    continue
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + settings.serving_check_seconds
                _check(rt, live)
                continue
            live.stop.wait(min(READY_POLL_S * 5, max(0.0, next_check - time.monotonic())))
        if failure is None:
            _set_state(rt, live, ServingState.STOPPING, *ACTIVE_STATES)
        for handle in live.handles:
            with contextlib.suppress(Exception):
                runner.kill(handle)
        for handle in live.handles:
            runner.wait(handle)
        if failure is not None and not live.ready.is_set():
            failure = f"the model server did not start: {failure}"
        state = ServingState.FAILED if failure else ServingState.STOPPED
        tail = _tail(runner, live) if failure else None
        _end(rt, live, state=state, reason=failure or live.reason, tail=tail)
    except Exception:
        log.exception("the watcher of serving %s failed", live.serving_id)
        with contextlib.suppress(Exception):
            _release(runner, live, keep_dirs=True)
        with contextlib.suppress(Exception):
            _end(
                rt,
                live,
                state=ServingState.FAILED,
                reason="its watcher failed",
                tail=_tail(runner, live),
            )
    finally:
        _release(runner, live)
        rt.servings.forget(live.serving_id)
        live.done.set()


def _release(runner: JobRunner, live: LiveServing, *, keep_dirs: bool = False) -> None:
    """Stop every instance still there; unless `keep_dirs`, remove the runs' directories."""
    for handle in live.handles:
        with contextlib.suppress(Exception):
            if runner.poll(handle) is None:
                runner.kill(handle, grace_seconds=2)
                runner.wait(handle)
    if keep_dirs:
        return
    for handle in live.handles:
        with contextlib.suppress(Exception):
            runner.cleanup(handle)
    for link_dir in live.link_dirs:
        shutil.rmtree(link_dir, ignore_errors=True)


def _set_state(rt: Runtime, live: LiveServing, state: ServingState, *when: ServingState) -> None:
    with rt.sessions() as session:
        session.execute(
            update(Serving)
            .where(
                Serving.id == live.serving_id,
                Serving.started_at == live.started_at,
                Serving.state.in_([s.value for s in when]),
            )
            .values(state=state.value)
        )
        session.commit()


def _end(
    rt: Runtime, live: LiveServing, *, state: ServingState, reason: str, tail: str | None
) -> None:
    """Charge the rest of the run and record how it ended (once)."""
    with rt.sessions() as session:
        row = _charge(session, live, utcnow())
        if row is None:
            return
        row.state = state.value
        row.stopped_at = utcnow()
        row.stop_reason = reason[:255]
        row.log_tail = tail
        row.url = None
        session.commit()


# --- stopping and deleting -------------------------------------------------------------


def _stop_row(rt: Runtime, row_id: int, instance: str | None, state: str, who: str) -> None:
    """Ask the watcher to stop the serving and wait for it (bounded); a serving of a process
    that is gone is recorded as ended; one run by another live instance is 503."""
    live = rt.servings.get(row_id)
    if live is not None:
        live.reason = who
        live.stop.set()
        if not live.done.wait(STOP_WAIT_S):
            raise Unavailable("the serving did not stop in time; it is still stopping")
        return
    if state not in ACTIVE_STATES:
        return
    if instance is None or instance == rt.executions.instance or watch.is_gone(rt, instance):
        _end_orphan(rt, row_id)
        return
    raise Unavailable(
        f"the serving runs on another instance of the service ({instance}); only that "
        "instance watches and stops it: try again (a load balancer may send the request "
        "there)",
        code="serving_elsewhere",
        headers={"Retry-After": ELSEWHERE_RETRY_S},
    )


def stop(rt: Runtime, *, user: User, project: str, name: str) -> ServingRead:
    with rt.read_sessions() as session:
        access = project_service.authorize(
            session, project=project, user=user, action=Action.SERVE_MODELS
        )
        row = _serving(session, access, name)
        row_id, instance, state = row.id, row.instance, row.state
    _stop_row(rt, row_id, instance, state, f"stopped by {user.email}")
    return get(rt, user=user, project=project, name=name)


def delete(rt: Runtime, *, user: User, project: str, name: str) -> None:
    with rt.read_sessions() as session:
        access = project_service.authorize(
            session, project=project, user=user, action=Action.SERVE_MODELS
        )
        row = _serving(session, access, name)
        row_id, instance, state = row.id, row.instance, row.state
    _stop_row(rt, row_id, instance, state, f"deleted by {user.email}")
    with rt.sessions() as session:
        access = project_service.locked_access(
            rt, session, user=user, project=project, action=Action.SERVE_MODELS
        )
        row = session.scalar(select(Serving).where(Serving.id == row_id).with_for_update())
        if row is None:
            return
        if row.state in ACTIVE_STATES:  # started again meanwhile
            raise Conflict(f"serving '{name}' is {row.state}", code="serving_active")
        session.delete(row)
        session.commit()


def stop_all(rt: Runtime) -> None:
    rt.servings.stop_all("the service stopped", STOP_WAIT_S)
    rt.backends.kafka.flush(inference_log.FLUSH_ON_STOP_S)  # the last predictions' records


# --- predictions -----------------------------------------------------------------------


@dataclass(frozen=True)
class PredictTarget:
    socket_path: Path | None
    """An embedded model server's unix socket (None on Kubernetes: `url`)."""
    path: str
    """The v1 protocol's predict path on the model server."""
    project: str
    name: str
    model: str
    version: int
    member: str
    identity: str
    log: bool
    """Whether the project has its inference-log topic (its owner may have deleted it)."""
    url: str | None = None
    """The InferenceService's `status.url` (KServe's v1 protocol), on Kubernetes."""


def predict_target(rt: Runtime, *, user: User, project: str, name: str) -> PredictTarget:
    """The next instance (round robin) of a RUNNING serving this process runs; on
    Kubernetes the InferenceService of a RUNNING serving, whichever instance watches it.

    Embedded, a serving another instance runs is 503 `serving_elsewhere` with Retry-After:
    its model servers listen on unix sockets on that instance's host, which no other
    instance reaches (docs/decisions.md)."""
    with rt.read_sessions() as session:
        access = project_service.authorize(
            session, project=project, user=user, action=Action.SERVE_MODELS
        )
        row = _serving(session, access, name)
        row_id, state, instance = row.id, row.state, row.instance
        model, version, url = row.model, row.version, row.url
        log_topic = session.scalar(
            select(Topic.id).where(
                Topic.project_id == access.project_id, Topic.name == inference_log.TOPIC
            )
        )
    found = {
        "project": access.project,
        "name": name,
        "model": model,
        "version": version,
        "member": access.email,
        "identity": access.identity,
        "log": log_topic is not None,
    }
    if url is not None or rt.backends.servers is not None:
        if url is None or state != ServingState.RUNNING:
            raise Conflict(f"serving '{name}' is {state}, not RUNNING", code="serving_not_running")
        return PredictTarget(socket_path=None, path=f"/v1/models/{name}:predict", url=url, **found)
    live = rt.servings.get(row_id)
    if live is None and state in ACTIVE_STATES and instance != rt.executions.instance:
        raise Unavailable(
            f"serving '{name}' runs on another instance of the service ({instance}): its "
            "model servers listen on unix sockets only that instance reaches. Try again (a "
            "load balancer may send the request there), or serve on Kubernetes, where "
            "every instance reaches them",
            code="serving_elsewhere",
            headers={"Retry-After": ELSEWHERE_RETRY_S},
        )
    if live is None or not live.ready.is_set() or live.stop.is_set() or not live.sockets:
        raise Conflict(f"serving '{name}' is {state}, not RUNNING", code="serving_not_running")
    return PredictTarget(socket_path=live.next_socket(), path=f"/v1/models/{name}:predict", **found)


# --- reconciliation --------------------------------------------------------------------


def _end_orphan(rt: Runtime, serving_id: int) -> None:
    """End a serving whose model servers died with an earlier process of the service (its
    usage was charged up to that process's last check) and remove their directories; on
    Kubernetes delete its InferenceService (which did not die with the process)."""
    with rt.sessions() as session:
        row = session.scalar(select(Serving).where(Serving.id == serving_id).with_for_update())
        if row is None or row.state not in ACTIVE_STATES:
            return
        instances, name = row.instances, row.name
        project = session.scalar(select(Project.name).where(Project.id == row.project_id))
        row.state = ServingState.STOPPED.value
        row.stopped_at = utcnow()
        row.stop_reason = RESTARTED
        row.url = None
        session.commit()
    servers = rt.backends.servers
    if servers is not None:
        if project is not None:
            with contextlib.suppress(Exception):  # else the sweep deletes it
                servers.stop_serving(namespace_for(project), name)
        return
    for index in range(instances):
        leftover = rt.backends.runner.leftover(run_id(serving_id, index))
        if leftover is not None:
            rt.backends.runner.cleanup(leftover)


def fail_orphans(rt: Runtime) -> int:
    """End the servings whose service process is gone (their servers died with it); those
    of live instances are theirs to watch. Run by the lease holder."""
    with rt.read_sessions() as session:
        rows = session.execute(
            select(Serving.id, Serving.instance).where(Serving.state.in_(ACTIVE_STATES))
        ).all()
    ended = 0
    mine = rt.servings.running()
    for serving_id, instance in rows:
        if serving_id in mine or instance == rt.executions.instance:
            continue
        if instance is not None and not watch.is_gone(rt, instance):
            continue
        _end_orphan(rt, serving_id)
        ended += 1
    servers = rt.backends.servers
    if servers is not None and _sweep_due(rt, ended):
        rt.servings.swept_at = time.monotonic()
        try:
            deleted = _delete_orphan_inference_services(rt, servers)
        except AppError as exc:
            log.warning("orphan InferenceServices not looked for: %s", exc.message)
        else:
            if deleted:
                log.info("deleted orphan InferenceServices: %s", ", ".join(deleted))
    return ended


def _sweep_due(rt: Runtime, ended: int) -> bool:
    """At this process's first pass (the service's start, or taking the lead), when rows
    were just ended, and then every reconciliation interval."""
    swept, every = rt.servings.swept_at, rt.settings.reconcile_interval_seconds
    if swept is None or ended:
        return True
    return every > 0 and time.monotonic() - swept >= every
