"""Job and execution use cases: what a run may see is decided here (authz), how it is
sandboxed is the runner's business (`backends.runner`).

An execution is recorded (INITIALIZING) before its process starts and RUNNING once it has;
a monitor thread per execution waits for it, keeps its logs in the project's `Logs`
dataset (`Logs/<job>/<execution id>/<stream>.log`), records the outcome and usage, charges
the project's compute credits and removes the run's credentials. Runs die with the process
that started them, so executions left active by an earlier process are failed by
`fail_orphans` when this one takes the lead.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import threading
from pathlib import Path

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from hopsworks_api import authz
from hopsworks_api.authz import Action, ProjectAccess
from hopsworks_api.backends.runner.base import (
    JobApp,
    JobRunner,
    Limits,
    RunHandle,
    RunSpec,
    Stream,
)
from hopsworks_api.backends.runner.forward import platform_endpoints
from hopsworks_api.backends.storage import validate_relative_path
from hopsworks_api.clock import naive_utc
from hopsworks_api.datasets.models import Dataset
from hopsworks_api.db.base import utcnow
from hopsworks_api.db.unique import flush_unique
from hopsworks_api.environments import service as environments
from hopsworks_api.errors import AppError, BadRequest, Conflict, Forbidden, NotFound, Unavailable
from hopsworks_api.jobs import cron, run_view, spark, watch
from hopsworks_api.jobs.models import (
    ACTIVE_STATES,
    Execution,
    ExecutionRead,
    ExecutionStart,
    ExecutionState,
    Job,
    JobCreate,
    JobRead,
    JobType,
    JobUpdate,
    Resources,
    Usage,
)
from hopsworks_api.projects import service as project_service
from hopsworks_api.projects.models import Project
from hopsworks_api.quotas import accounting
from hopsworks_api.quotas.models import ProjectQuota
from hopsworks_api.runtime import Runtime
from hopsworks_api.schemas import Page, PageParams
from hopsworks_api.users.models import User

log = logging.getLogger(__name__)

LOGS_DATASET = "Logs"
RESTARTED = (
    "the service restarted (or the instance running this execution stopped) while it ran; "
    "it was stopped with it\n"
)


# --- reading ---------------------------------------------------------------------------


def _job_read(session: Session, job: Job) -> JobRead:
    creator = session.get(User, job.created_by) if job.created_by else None
    return JobRead(
        name=job.name,
        type=JobType(job.type),
        app_path=job.app_path,
        main_class=job.main_class,
        args=json.loads(job.args_json),
        environment=job.environment,
        resources=Resources.model_validate(json.loads(job.resources_json)),
        schedule=job.schedule,
        next_run_at=job.next_run_at,
        creator=creator.email if creator else None,
        created_at=job.created_at,
    )


def _execution_read(session: Session, row: Execution, job: str) -> ExecutionRead:
    by = session.get(User, row.submitted_by) if row.submitted_by else None
    duration = None
    if row.started_at is not None:
        end = row.finished_at or utcnow()
        duration = max(0.0, (end - row.started_at).total_seconds())
    return ExecutionRead(
        id=row.id,
        job=job,
        state=ExecutionState(row.state),
        exit_code=row.exit_code,
        args=json.loads(row.args_json),
        submitted_by=by.email if by else None,
        submitted_at=row.submitted_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        duration_s=duration,
        usage=Usage(
            core_seconds=row.core_millis / 1000,
            gpu_seconds=row.gpu_millis / 1000,
            credits=row.credits,
        ),
    )


def _job(session: Session, access: ProjectAccess, name: str) -> Job:
    job = session.scalar(select(Job).where(Job.project_id == access.project_id, Job.name == name))
    if job is None:
        raise NotFound(f"job '{name}' not found in project '{access.project}'")
    return job


def _execution(session: Session, access: ProjectAccess, job: Job, execution_id: int) -> Execution:
    row = session.get(Execution, execution_id)
    if row is None or row.job_id != job.id:
        raise NotFound(f"execution {execution_id} of job '{job.name}' not found")
    return row


def list_jobs(rt: Runtime, *, user: User, project: str) -> list[JobRead]:
    with rt.read_sessions() as session:
        access = project_service.authorize(
            session, project=project, user=user, action=Action.RUN_JOBS
        )
        rows = session.scalars(
            select(Job).where(Job.project_id == access.project_id).order_by(Job.name)
        ).all()
        return [_job_read(session, row) for row in rows]


def get_job(rt: Runtime, *, user: User, project: str, job: str) -> JobRead:
    with rt.read_sessions() as session:
        access = project_service.authorize(
            session, project=project, user=user, action=Action.RUN_JOBS
        )
        return _job_read(session, _job(session, access, job))


# --- validation ------------------------------------------------------------------------


def _app_location(
    session: Session, rt: Runtime, access: ProjectAccess, app_path: str
) -> tuple[str, tuple[str, ...]]:
    """`<dataset>/<path>` of an existing file in one of the project's own datasets."""
    dataset, _, rest = app_path.strip("/").partition("/")
    parts = validate_relative_path(rest)
    if not dataset or not parts:
        raise BadRequest(
            f"app_path '{app_path}' must be '<dataset>/<path>' inside the project",
            code="bad_app_path",
        )
    found = session.scalar(
        select(Dataset.id).where(Dataset.project_id == access.project_id, Dataset.name == dataset)
    )
    if found is None:
        raise BadRequest(
            f"app_path '{app_path}': no dataset '{dataset}' in project '{access.project}'",
            code="bad_app_path",
        )
    entry = rt.backends.storage.stat(access.project, dataset, parts)
    if entry is None or entry.is_dir:
        raise BadRequest(f"app_path '{app_path}' is not a file", code="bad_app_path")
    return dataset, parts


def _interpreter(rt: Runtime, access: ProjectAccess, data: JobUpdate) -> tuple[Path, Path | None]:
    """The environment's python and, for the Spark types, its Spark home (jobs.spark)."""
    python = environments.python_for(rt, project_id=access.project_id, name=data.environment)
    if data.type in spark.SPARK_TYPES:
        return python, spark.spark_home(python, data.environment)
    return python, None


def _validate(
    rt: Runtime, session: Session, access: ProjectAccess, data: JobUpdate
) -> tuple[Path, Path | None]:
    _app_location(session, rt, access, data.app_path)
    memory_mb = _run_limits(data.type, data.resources).memory_mb or 0
    spark.check_job(data.type, data.app_path, data.main_class, memory_mb)
    return _interpreter(rt, access, data)


# --- jobs ------------------------------------------------------------------------------


def _write_access(rt: Runtime, session: Session, *, user: User, project: str) -> ProjectAccess:
    """Authorize, then take the project's shared lock (see projects.service.lock) and
    authorize again, so a deletion of the project is ordered with this change."""
    return project_service.locked_access(
        rt, session, user=user, project=project, action=Action.RUN_JOBS
    )


def create_job(rt: Runtime, *, user: User, project: str, data: JobCreate) -> JobRead:
    next_run_at = cron.next_run(data.schedule, rt.clock)
    with rt.read_sessions() as read:
        access = project_service.authorize(read, project=project, user=user, action=Action.RUN_JOBS)
        _validate(rt, read, access, data)
    with rt.sessions() as session:
        access = _write_access(rt, session, user=user, project=project)
        job = Job(
            project_id=access.project_id,
            name=data.name,
            type=data.type.value,
            app_path=data.app_path.strip("/"),
            main_class=data.main_class,
            args_json=json.dumps(data.args),
            environment=data.environment,
            resources_json=data.resources.model_dump_json(),
            schedule=data.schedule,
            next_run_at=next_run_at,
            created_by=user.id,
        )
        session.add(job)
        flush_unique(session, f"job '{data.name}' already exists in '{project}'")
        result = _job_read(session, job)
        session.commit()
        return result


def update_job(rt: Runtime, *, user: User, project: str, job: str, data: JobUpdate) -> JobRead:
    next_run_at = cron.next_run(data.schedule, rt.clock)
    with rt.read_sessions() as read:
        access = project_service.authorize(read, project=project, user=user, action=Action.RUN_JOBS)
        _validate(rt, read, access, data)
    with rt.sessions() as session:
        access = _write_access(rt, session, user=user, project=project)
        row = _job(session, access, job)
        row.type = data.type.value
        row.app_path = data.app_path.strip("/")
        row.main_class = data.main_class
        row.args_json = json.dumps(data.args)
        row.environment = data.environment
        row.resources_json = data.resources.model_dump_json()
        if row.schedule != data.schedule:  # an unchanged schedule keeps its next run
            row.schedule = data.schedule
            row.next_run_at = next_run_at
        session.flush()
        result = _job_read(session, row)
        session.commit()
        return result


def delete_job(rt: Runtime, *, user: User, project: str, job: str) -> None:
    """Refused while an execution of the job is active: stop it first (its logs stay)."""
    with rt.sessions() as session:
        access = _write_access(rt, session, user=user, project=project)
        row = _job(session, access, job)
        active = session.scalar(
            select(func.count())
            .select_from(Execution)
            .where(Execution.job_id == row.id, Execution.state.in_(ACTIVE_STATES))
        )
        if active:
            raise Conflict(
                f"job '{job}' has {active} active execution(s); stop them first",
                code="job_running",
            )
        session.delete(row)
        session.commit()


# --- executions ------------------------------------------------------------------------


def _limits(job: Job) -> Limits:
    return _run_limits(JobType(job.type), Resources.model_validate(json.loads(job.resources_json)))


def _run_limits(job_type: JobType, resources: Resources) -> Limits:
    """The run's cores and memory; a (py)spark run in local mode also holds its executor's
    memory in the same JVM."""
    memory = resources.memory_mb
    if job_type != JobType.PYTHON:
        memory += resources.executor_memory_mb
    return Limits(cores=resources.cores, memory_mb=memory)


def _command(
    runner: JobRunner, job: Job, python: Path, home: Path | None, args: list[str]
) -> list[str]:
    app = f"{runner.datasets_dir}/{job.app_path}"
    if home is not None:  # the Spark types: in local mode, the driver's heap is the run's
        resources = Resources.model_validate(json.loads(job.resources_json))
        memory_mb = _limits(job).memory_mb or resources.memory_mb
        return spark.submit_command(
            home, JobType(job.type), app, job.main_class, resources.cores, memory_mb, args
        )
    return [str(python), app, *args]


def _job_app(job: Job, args: list[str]) -> JobApp:
    """The job as cluster runners submit it (they build their own command)."""
    resources = Resources.model_validate(json.loads(job.resources_json))
    return JobApp(
        job=job.name,
        type=job.type,
        app_path=job.app_path,
        main_class=job.main_class,
        args=tuple(args),
        **resources.model_dump(),
    )


def start(
    rt: Runtime, *, user: User, project: str, job: str, data: ExecutionStart
) -> ExecutionRead:
    runner = rt.backends.runner
    runner.check()
    with rt.read_sessions() as read:
        access = project_service.authorize(read, project=project, user=user, action=Action.RUN_JOBS)
        row = _job(read, access, job)
        spec_job = JobUpdate(
            type=JobType(row.type),
            app_path=row.app_path,
            main_class=row.main_class,
            environment=row.environment,
            resources=Resources.model_validate(json.loads(row.resources_json)),
        )
        python, home = _validate(rt, read, access, spec_job)
        mounts = run_view.dataset_mounts(read, access)
        args = data.args if data.args is not None else json.loads(row.args_json)
        gpus = Resources.model_validate(json.loads(row.resources_json)).gpus
        argv = _command(runner, row, python, home, args)
        app = _job_app(row, args)
        limits = _limits(row)
        job_id, job_name = row.id, row.name
    files = run_view.credential_files(rt, runner, access, user=user, project=project)
    with rt.sessions() as session:
        access = _write_access(rt, session, user=user, project=project)
        accounting.admit_compute(
            session, project_id=access.project_id, project=access.project, gpus=gpus
        )
        if session.get(Job, job_id) is None:
            raise NotFound(f"job '{job}' not found in project '{project}'")
        execution = Execution(
            job_id=job_id,
            project_id=access.project_id,
            state=ExecutionState.INITIALIZING.value,
            args_json=json.dumps(args),
            submitted_at=utcnow(),
            submitted_by=user.id,
            instance=rt.executions.instance,
        )
        session.add(execution)
        session.commit()
        execution_id = execution.id
    spec = RunSpec(
        run_id=str(execution_id),
        project=access.project,
        identity=access.identity,
        interpreter=python,
        argv=argv,
        mounts=mounts,
        credentials=files,
        env=spark.run_env(python, home, runner.credentials_dir),
        app=app,
        endpoints=platform_endpoints(rt.settings),
        limits=limits,
    )
    try:
        handle = runner.start(spec)
    except Exception as exc:
        _finish(rt, execution_id, state=ExecutionState.FAILED, exit_code=None, cpu_seconds=0)
        _keep_log(rt, access.project, job_name, execution_id, Stream.STDERR, f"{exc}\n".encode())
        if isinstance(exc, AppError):
            raise
        raise Unavailable(f"execution {execution_id} could not start: {exc}") from exc
    # watched from now on, whatever happens to this request
    monitor = threading.Thread(
        target=_monitor,
        args=(rt, runner, handle, execution_id, access.project, job_name),
        name=f"execution-{execution_id}",
        daemon=True,
    )
    if rt.executions.register(execution_id, handle, monitor):
        _kill_later(runner, handle)
    monitor.start()
    with rt.sessions() as session:
        # unless the monitor already recorded the end of a very short run
        session.execute(
            update(Execution)
            .where(
                Execution.id == execution_id,
                Execution.state == ExecutionState.INITIALIZING.value,
            )
            .values(
                state=ExecutionState.RUNNING.value,
                started_at=utcnow(),
                run_handle=handle.describe(),
            )
        )
        session.commit()
    return get_execution(rt, user=user, project=project, job=job, execution_id=execution_id)


def _kill_later(runner: JobRunner, handle: RunHandle) -> None:
    """SIGTERM, then SIGKILL after a grace period: off the request's thread."""
    threading.Thread(target=runner.kill, args=(handle,), daemon=True).start()


def _keep_log(
    rt: Runtime, project: str, job: str, execution_id: int, stream: Stream, data: bytes
) -> None:
    """Store a log in `Logs/<job>/<execution id>/`; a missing Logs dataset loses it (logged)."""
    path = (job, str(execution_id), f"{stream.value}.log")
    try:
        writer = rt.backends.storage.begin_write(project, LOGS_DATASET, path)
        try:
            writer.write(data)
            writer.commit()
        except BaseException:
            writer.abort()
            raise
    except Exception:
        log.exception("could not keep the log of execution %s", execution_id)


def _finish(
    rt: Runtime,
    execution_id: int,
    *,
    state: ExecutionState,
    exit_code: int | None,
    cpu_seconds: float,
) -> None:
    """Record the outcome and charge the project's credits (one per core-second begun)."""
    credits = math.ceil(cpu_seconds)
    with rt.sessions() as session:
        project_id = session.scalar(
            select(Execution.project_id).where(Execution.id == execution_id)
        )
        if project_id is None:  # the job or project was deleted meanwhile
            return
        # the quota row first, as every other charge takes it
        quota = session.get(ProjectQuota, project_id, with_for_update=True)
        row = session.scalar(
            select(Execution).where(Execution.id == execution_id).with_for_update()
        )
        if row is None or row.state not in ACTIVE_STATES:
            return
        row.state = state.value
        row.exit_code = exit_code
        row.finished_at = utcnow()
        row.started_at = row.started_at or row.submitted_at
        row.core_millis = round(cpu_seconds * 1000)
        row.credits = credits
        if quota is not None:
            quota.compute_seconds_used += credits
        session.commit()


def _monitor(
    rt: Runtime, runner: JobRunner, handle: RunHandle, execution_id: int, project: str, job: str
) -> None:
    try:
        outcome = runner.wait(handle)
        if rt.executions.stop_requested(execution_id):
            state = ExecutionState.KILLED
        elif outcome.exit_code == 0:
            state = ExecutionState.FINISHED
        else:
            state = ExecutionState.FAILED
        for stream in Stream:
            try:
                data = runner.log_path(handle, stream).read_bytes()
            except FileNotFoundError:
                data = b""
            _keep_log(rt, project, job, execution_id, stream, data)
        _finish(
            rt,
            execution_id,
            state=state,
            exit_code=outcome.exit_code,
            cpu_seconds=outcome.cpu_seconds,
        )
    except Exception:
        log.exception("monitor of execution %s failed", execution_id)
    finally:
        rt.executions.forget(execution_id)
        runner.cleanup(handle)


def list_executions(
    rt: Runtime, *, user: User, project: str, job: str, page: PageParams
) -> Page[ExecutionRead]:
    with rt.read_sessions() as session:
        access = project_service.authorize(
            session, project=project, user=user, action=Action.RUN_JOBS
        )
        row = _job(session, access, job)
        where = Execution.job_id == row.id
        total = session.scalar(select(func.count()).select_from(Execution).where(where)) or 0
        rows = session.scalars(
            select(Execution)
            .where(where)
            .order_by(Execution.id.desc())
            .limit(page.limit)
            .offset(page.offset)
        ).all()
        return Page(
            items=[_execution_read(session, r, row.name) for r in rows],
            total=total,
            limit=page.limit,
            offset=page.offset,
        )


def get_execution(
    rt: Runtime, *, user: User, project: str, job: str, execution_id: int
) -> ExecutionRead:
    with rt.read_sessions() as session:
        access = project_service.authorize(
            session, project=project, user=user, action=Action.RUN_JOBS
        )
        row = _job(session, access, job)
        return _execution_read(session, _execution(session, access, row, execution_id), row.name)


def read_log(
    rt: Runtime, *, user: User, project: str, job: str, execution_id: int, stream: Stream
) -> bytes:
    """The whole log so far: from the run's directory while it runs, from Logs after."""
    with rt.read_sessions() as session:
        access = project_service.authorize(
            session, project=project, user=user, action=Action.RUN_JOBS
        )
        row = _job(session, access, job)
        _execution(session, access, row, execution_id)
    handle = rt.executions.handle(execution_id)
    if handle is not None:
        try:
            return rt.backends.runner.log_path(handle, stream).read_bytes()
        except FileNotFoundError:
            pass  # just finished: kept in Logs by now
    path = (job, str(execution_id), f"{stream.value}.log")
    storage = rt.backends.storage
    if storage.stat(access.project, LOGS_DATASET, path) is None:
        return b""
    return b"".join(storage.open_read(access.project, LOGS_DATASET, path))


def stop(rt: Runtime, *, user: User, project: str, job: str, execution_id: int) -> ExecutionRead:
    """A data scientist stops only their own executions, a data owner anyone's."""
    with rt.read_sessions() as session:
        access = project_service.authorize(
            session, project=project, user=user, action=Action.RUN_JOBS
        )
        row = _job(session, access, job)
        execution = _execution(session, access, row, execution_id)
        if execution.submitted_by != user.id and not authz.allowed(access, Action.STOP_OTHERS_WORK):
            raise Forbidden(
                f"a {access.role.value if access.role else 'non-member'} may stop only their "
                f"own executions in project '{project}'"
            )
        state = execution.state
    if state in ACTIVE_STATES and not watch.kill_here(rt, execution_id):
        _stop_elsewhere(rt, execution_id)
    return get_execution(rt, user=user, project=project, job=job, execution_id=execution_id)


def _stop_elsewhere(rt: Runtime, execution_id: int) -> None:
    """A run this process does not hold: recorded as asked in the DB, where the watcher of
    the instance that runs it finds it within a heartbeat (`jobs.watch`); if that instance
    is gone, the run died with it and the execution ends KILLED now. One of ours still
    starting is stopped once registered (`kill_here` noted the request)."""
    now = naive_utc(rt.clock.now())
    with rt.sessions() as session:
        row = session.get(Execution, execution_id)
        if row is None or row.state not in ACTIVE_STATES:
            return
        if row.stop_requested_at is None:
            row.stop_requested_at = now
        instance = row.instance
        gone = instance != rt.executions.instance and watch.instance_gone(
            session, instance, now=now, beat_s=rt.settings.instance_heartbeat_seconds
        )
        session.commit()
    if gone:
        _finish(rt, execution_id, state=ExecutionState.KILLED, exit_code=None, cpu_seconds=0)


def fail_orphans(rt: Runtime) -> int:
    """Fail the executions whose instance is gone (`watch.instance_gone`: an earlier process
    of the service, or another instance that stopped beating): their runs died with it.
    Never those of a live instance. Their leftover logs are kept (when the run's directory
    is on this host) and their credentials removed; heartbeat rows of gone instances go."""
    now = naive_utc(rt.clock.now())
    beat_s = rt.settings.instance_heartbeat_seconds
    mine_instance = rt.executions.instance
    with rt.read_sessions() as session:
        candidates = session.execute(
            select(Execution.id, Job.name, Execution.project_id, Execution.instance)
            .join(Job, Job.id == Execution.job_id)
            .where(
                Execution.state.in_(ACTIVE_STATES),
                or_(Execution.instance.is_(None), Execution.instance != mine_instance),
            )
        ).all()
        gone = {
            instance: watch.instance_gone(session, instance, now=now, beat_s=beat_s)
            for instance in {r.instance for r in candidates}
        }
        rows = [r for r in candidates if gone[r.instance]]
        projects = dict(
            session.execute(
                select(Project.id, Project.name).where(Project.id.in_({r.project_id for r in rows}))
            ).all()
        )
    mine = rt.executions.running()
    runner = rt.backends.runner
    failed = 0
    for execution_id, job, project_id, _instance in rows:
        if execution_id in mine or project_id not in projects:
            continue
        project = projects[project_id]
        leftover = runner.leftover(str(execution_id))
        for stream in Stream:
            data = b""
            if leftover is not None:
                with contextlib.suppress(FileNotFoundError):
                    data = runner.log_path(leftover, stream).read_bytes()
            if stream == Stream.STDERR:
                data += RESTARTED.encode()
            _keep_log(rt, project, job, execution_id, stream, data)
        if leftover is not None:
            runner.cleanup(leftover)
        _finish(rt, execution_id, state=ExecutionState.FAILED, exit_code=None, cpu_seconds=0)
        failed += 1
    watch.forget_stale_instances(rt, now=now)
    return failed
