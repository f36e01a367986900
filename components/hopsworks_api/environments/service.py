"""Environment use cases. A POST or PUT records a new build (BUILDING) and starts a thread
that builds it into a directory of its own; only a build that succeeded becomes the
environment's `active_build`, so a failed rebuild leaves the previous one in use.

Rows go with their project (FK cascade); directories on disk are removed by `delete`, and
whatever a deletion, a crash or a project's deletion left behind by `reap`, the periodic
job that also fails builds a restart interrupted (their heartbeat stopped).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hopsworks_api.authz import Action, ProjectAccess
from hopsworks_api.clock import naive_utc
from hopsworks_api.config import Settings
from hopsworks_api.db.unique import flush_unique
from hopsworks_api.environments import build as builds
from hopsworks_api.environments.models import (
    DEFAULT_ENVIRONMENT,
    BuildState,
    Environment,
    EnvironmentCreate,
    EnvironmentRead,
    EnvironmentSummary,
    EnvironmentUpdate,
    Package,
)
from hopsworks_api.environments.requirements import parse
from hopsworks_api.errors import Conflict, NotFound, Unavailable
from hopsworks_api.projects import service as project_service
from hopsworks_api.projects.models import Project
from hopsworks_api.runtime import Runtime
from hopsworks_api.users.models import User

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10.0
# a BUILDING build whose heartbeat is older than this was interrupted (a restart, a crash)
STALE_AFTER = timedelta(seconds=6 * HEARTBEAT_SECONDS)
INTERRUPTED = "interrupted by a service restart; rebuild it (PUT its requirements again)"


def environments_root(settings: Settings) -> Path:
    return settings.data_dir / "environments"


def environment_dir(settings: Settings, project_id: int, name: str) -> Path:
    """By project id, never reused: a project re-created under the same name starts empty."""
    return environments_root(settings) / str(project_id) / name


def build_dir(settings: Settings, project_id: int, name: str, build: int) -> Path:
    return environment_dir(settings, project_id, name) / str(build)


# --- reads -------------------------------------------------------------------------------


def list_environments(rt: Runtime, *, user: User, project: str) -> list[EnvironmentSummary]:
    with rt.read_sessions() as session:
        access = project_service.authorize(
            session, project=project, user=user, action=Action.VIEW_PROJECT
        )
        rows = session.scalars(
            select(Environment)
            .where(Environment.project_id == access.project_id)
            .order_by(Environment.name)
        )
        return [
            EnvironmentSummary(name=DEFAULT_ENVIRONMENT, state=BuildState.READY),
            *(EnvironmentSummary(name=row.name, state=BuildState(row.state)) for row in rows),
        ]


def get(rt: Runtime, *, user: User, project: str, name: str) -> EnvironmentRead:
    with rt.read_sessions() as session:
        access = project_service.authorize(
            session, project=project, user=user, action=Action.VIEW_PROJECT
        )
        if name == DEFAULT_ENVIRONMENT:
            return _default(rt.settings)
        return _read(rt.settings, _row(session, access, name))


def lock(rt: Runtime, *, user: User, project: str, name: str) -> str:
    with rt.read_sessions() as session:
        access = project_service.authorize(
            session, project=project, user=user, action=Action.VIEW_PROJECT
        )
        if name == DEFAULT_ENVIRONMENT:
            raise NotFound(
                "the default environment is the platform's interpreter and has no lock",
                code="no_lock",
            )
        row = _row(session, access, name)
        if row.lock is None:
            raise _not_ready(row, project)
        return row.lock


def python_for(rt: Runtime, *, project_id: int, name: str) -> Path:
    """The interpreter of the environment's READY build (for jobs and notebooks); for
    `default`, the platform's base interpreter (`HOPS_DEFAULT_PYTHON`, else the service's)."""
    with rt.read_sessions() as session:
        project = session.scalar(select(Project.name).where(Project.id == project_id))
        if project is None:
            raise NotFound(f"project #{project_id} not found")
        if name == DEFAULT_ENVIRONMENT:
            return builds.base_python(rt.settings)
        row = session.scalar(
            select(Environment).where(
                Environment.project_id == project_id, Environment.name == name
            )
        )
        if row is None:
            raise NotFound(f"environment '{name}' not found in project '{project}'")
        if row.active_build is None:
            raise _not_ready(row, project)
        python = builds.interpreter(build_dir(rt.settings, project_id, name, row.active_build))
        if not python.exists():
            raise Conflict(
                f"environment '{name}' of project '{project}' is missing on disk; rebuild it",
                code="environment_not_ready",
            )
        return python


def _not_ready(row: Environment, project: str) -> Conflict:
    return Conflict(
        f"environment '{row.name}' of project '{project}' has no successful build yet "
        f"(state {row.state})",
        code="environment_not_ready",
    )


def _row(session: Session, access: ProjectAccess, name: str, *, lock: bool = False) -> Environment:
    query = select(Environment).where(
        Environment.project_id == access.project_id, Environment.name == name
    )
    row = session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise NotFound(f"environment '{name}' not found in project '{access.project}'")
    return row


def _read(settings: Settings, row: Environment) -> EnvironmentRead:
    latest = build_dir(settings, row.project_id, row.name, row.build)
    return EnvironmentRead(
        name=row.name,
        state=BuildState(row.state),
        build=row.build,
        active_build=row.active_build,
        requirements=row.requirements,
        packages=[Package(name=n, version=v) for n, v in builds.packages_of_lock(row.lock or "")],
        lock=row.lock,
        log_tail=builds.log_tail(latest),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _default(settings: Settings) -> EnvironmentRead:
    python = builds.base_python(settings)
    try:
        packages = builds.installed_packages(python)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise Unavailable(f"the default environment's interpreter {python} does not run") from exc
    return EnvironmentRead(
        name=DEFAULT_ENVIRONMENT,
        state=BuildState.READY,
        build=None,
        active_build=None,
        requirements=None,
        packages=[Package(name=n, version=v) for n, v in packages],
        lock=None,
        log_tail="",
        created_at=None,
        updated_at=None,
    )


# --- writes ------------------------------------------------------------------------------


def _locked_access(rt: Runtime, session: Session, *, user: User, project: str) -> ProjectAccess:
    return project_service.locked_access(
        rt, session, user=user, project=project, action=Action.MANAGE_ENVIRONMENTS
    )


def _refuse_default(name: str, what: str) -> None:
    if name == DEFAULT_ENVIRONMENT:
        raise Conflict(f"the default environment is the platform's own and cannot be {what}")


def create(rt: Runtime, *, user: User, project: str, data: EnvironmentCreate) -> EnvironmentRead:
    requirements = [str(r) for r in parse(data.requirements)]
    with rt.sessions() as session:
        access = _locked_access(rt, session, user=user, project=project)
        if data.name == DEFAULT_ENVIRONMENT:
            raise Conflict(f"environment '{data.name}' already exists in '{project}'")
        row = Environment(
            project_id=access.project_id,
            name=data.name,
            requirements=data.requirements,
            state=BuildState.BUILDING,
            build=1,
            heartbeat_at=naive_utc(rt.clock.now()),
        )
        session.add(row)
        flush_unique(session, f"environment '{data.name}' already exists in '{project}'")
        result = _read(rt.settings, row)
        env_id = row.id
        session.commit()
    _start(rt, env_id, access.project_id, data.name, 1, requirements)
    return result


def rebuild(
    rt: Runtime, *, user: User, project: str, name: str, data: EnvironmentUpdate
) -> EnvironmentRead:
    _refuse_default(name, "rebuilt")
    requirements = [str(r) for r in parse(data.requirements)]
    with rt.sessions() as session:
        access = _locked_access(rt, session, user=user, project=project)
        row = _row(session, access, name, lock=True)
        _refuse_building(row, "rebuilt")
        row.build += 1
        row.state = BuildState.BUILDING
        row.requirements = data.requirements
        row.heartbeat_at = naive_utc(rt.clock.now())
        session.flush()
        result, env_id, number = _read(rt.settings, row), row.id, row.build
        session.commit()
    _start(rt, env_id, access.project_id, name, number, requirements)
    return result


def delete(rt: Runtime, *, user: User, project: str, name: str) -> None:
    _refuse_default(name, "deleted")
    with rt.sessions() as session:
        access = _locked_access(rt, session, user=user, project=project)
        row = _row(session, access, name, lock=True)
        _refuse_building(row, "deleted")
        session.delete(row)
        session.commit()
    # after the commit: if this fails, `reap` removes the directory of a row that is gone
    shutil.rmtree(environment_dir(rt.settings, access.project_id, name), ignore_errors=True)


def _refuse_building(row: Environment, what: str) -> None:
    if row.state == BuildState.BUILDING:
        raise Conflict(
            f"environment '{row.name}' is being built; it can be {what} once the build ends",
            code="environment_building",
        )


# --- the build thread --------------------------------------------------------------------


def _start(
    rt: Runtime, env_id: int, project_id: int, name: str, number: int, requirements: list[str]
) -> None:
    threading.Thread(
        target=_build,
        args=(rt, env_id, project_id, name, number, requirements),
        name=f"environment-build-{env_id}-{number}",
        daemon=True,
    ).start()


def _build(
    rt: Runtime, env_id: int, project_id: int, name: str, number: int, requirements: list[str]
) -> None:
    directory = build_dir(rt.settings, project_id, name, number)
    shutil.rmtree(directory, ignore_errors=True)  # a deleted namesake's, not yet reaped
    lock: str | None = None
    try:
        lock = builds.run(
            rt.settings,
            directory,
            requirements,
            heartbeat=lambda: _heartbeat(rt, env_id, number),
            heartbeat_seconds=HEARTBEAT_SECONDS,
        )
        builds.append_log(directory, "build succeeded")
    except builds.BuildFailed as exc:
        builds.append_log(directory, f"build failed: {exc}")
    except Exception as exc:  # the build's own failure must not take the thread's row along
        log.exception("environment build %s/%s failed", project_id, name)
        builds.append_log(directory, f"build failed: {type(exc).__name__}: {exc}")
    try:
        _finish(rt, env_id, project_id, name, number, lock)
    except Exception:  # the DB is down: the row stays BUILDING until `reap` fails it
        log.exception("environment build %s/%s could not be recorded", project_id, name)


def _heartbeat(rt: Runtime, env_id: int, number: int) -> None:
    """Best effort: a DB that does not answer for a while must not fail the build itself."""
    try:
        with rt.sessions() as session:
            session.execute(
                update(Environment)
                .where(
                    Environment.id == env_id,
                    Environment.build == number,
                    Environment.state == BuildState.BUILDING,
                )
                # not a change anyone reads: updated_at stays
                .values(heartbeat_at=naive_utc(rt.clock.now()), updated_at=Environment.updated_at)
            )
            session.commit()
    except Exception:
        log.warning("environment build heartbeat not recorded", exc_info=True)


def _finish(
    rt: Runtime, env_id: int, project_id: int, name: str, number: int, lock: str | None
) -> None:
    keep: set[int] = {number}
    with rt.sessions() as session:
        row = session.get(Environment, env_id, with_for_update=True)
        if row is None:  # its project was deleted meanwhile
            session.rollback()
            shutil.rmtree(environment_dir(rt.settings, project_id, name), ignore_errors=True)
            return
        if row.build != number or row.state != BuildState.BUILDING:
            return  # given up on by `reap` (and maybe superseded): its result is not wanted
        if lock is None:
            row.state = BuildState.FAILED
        else:
            # the previous build stays on disk until the next success: a job started on it
            # just before the switch keeps its interpreter
            keep.add(row.active_build or number)
            row.state, row.active_build, row.lock = BuildState.READY, number, lock
        keep.add(row.active_build or number)
        session.commit()
    _prune(environment_dir(rt.settings, project_id, name), keep)


def _prune(directory: Path, keep: set[int]) -> None:
    for child in directory.iterdir() if directory.is_dir() else ():
        if child.name not in {str(number) for number in keep}:
            shutil.rmtree(child, ignore_errors=True)


# --- the periodic job --------------------------------------------------------------------


def reap(rt: Runtime) -> None:
    """Fail builds whose thread died with its process, and remove directories no row names
    (deleted environments and projects). Directories are listed before the rows are read,
    and a row is committed before its build's directory is made, so a build that starts
    meanwhile is never taken for an orphan."""
    root = environments_root(rt.settings)
    on_disk = {
        int(project.name): {env.name for env in project.iterdir() if env.is_dir()}
        for project in (root.iterdir() if root.is_dir() else ())
        if project.is_dir() and project.name.isdigit()
    }
    stale_before = naive_utc(rt.clock.now()) - STALE_AFTER
    with rt.sessions() as session:
        projects = set(session.scalars(select(Project.id)))
        named = {
            (project_id, name)
            for project_id, name in session.execute(
                select(Environment.project_id, Environment.name)
            )
        }
        interrupted = session.scalars(
            select(Environment)
            .where(
                Environment.state == BuildState.BUILDING,
                Environment.heartbeat_at < stale_before,
            )
            .with_for_update()
        ).all()
        for row in interrupted:
            builds.append_log(
                build_dir(rt.settings, row.project_id, row.name, row.build), INTERRUPTED
            )
            row.state = BuildState.FAILED
            log.warning("environment %s/%s: %s", row.project_id, row.name, INTERRUPTED)
        session.commit()
    for project_id, names in on_disk.items():
        if project_id not in projects:
            shutil.rmtree(root / str(project_id), ignore_errors=True)
            continue
        for name in names - {n for p, n in named if p == project_id}:
            shutil.rmtree(environment_dir(rt.settings, project_id, name), ignore_errors=True)
