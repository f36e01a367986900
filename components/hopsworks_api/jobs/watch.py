"""Each instance's watcher: it keeps the instance's heartbeat and stops the instance's own
runs that must not go on.

Every `instance_heartbeat_seconds` (and at once when woken: a member, project or account
change just committed, `provisioning.apply`) one thread per instance
- renews this instance's `runner_instances` row, so the lease holder can tell its runs
  from those of an instance that died (`instance_gone`, `jobs.service.fail_orphans`);
- stops (KILLED, logs kept) every run of this instance that another instance asked to stop
  (`Execution.stop_requested_at`), or whose execution row is gone, whose project is no
  longer active, or whose submitter is no longer a member whose role may run jobs (removed,
  role changed, account deleted or disabled): `may_run`; and asks its notebook and model
  servers to stop on the same rule (`stop_servers`), so a removal stops them at once too.

A run's process lives in the instance that started it (`--die-with-parent`), so only that
instance can stop it; a pass reads only its own runs, one small query each.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from hopsworks_api import __version__
from hopsworks_api.authz import ROLE_MATRIX, Action
from hopsworks_api.clock import naive_utc
from hopsworks_api.coordination.lease import dead_local_holder
from hopsworks_api.identity import Role
from hopsworks_api.jobs.models import Execution, RunnerInstance
from hopsworks_api.members.models import Membership
from hopsworks_api.projects.models import Project, ProjectStatus
from hopsworks_api.runtime import Runtime
from hopsworks_api.users.models import User

log = logging.getLogger(__name__)

MISSED_BEATS = 3
"""An instance whose heartbeat is this many beats old is gone (its runs died with it)."""


def may_run(session: Session, project_id: int, user_id: int | None) -> bool:
    """Whether `user_id` may still run work in the project: the project is active and the
    account is an active member whose role may run jobs. Notebooks ask the same."""
    if user_id is None:
        return False
    status = session.scalar(select(Project.status).where(Project.id == project_id))
    if status != ProjectStatus.ACTIVE:
        return False
    active = session.scalar(select(User.is_active).where(User.id == user_id))
    role = session.scalar(
        select(Membership.role).where(
            Membership.project_id == project_id, Membership.user_id == user_id
        )
    )
    return bool(active) and role is not None and Role(role) in ROLE_MATRIX[Action.RUN_JOBS]


def _now(rt: Runtime) -> datetime:
    return naive_utc(rt.clock.now())


def beat(rt: Runtime) -> None:
    """Renew (or create) this instance's heartbeat row."""
    instance, now = rt.executions.instance, _now(rt)
    with rt.sessions() as session:
        renewed = session.execute(
            update(RunnerInstance)
            .where(RunnerInstance.id == instance)
            .values(heartbeat_at=now, version=__version__)
        ).rowcount
        if not renewed:
            session.add(RunnerInstance(id=instance, heartbeat_at=now, version=__version__))
        session.commit()


def forget_instance(rt: Runtime) -> None:
    """On a clean shutdown: the instance's runs die with it, its row goes now."""
    with rt.sessions() as session:
        row = session.get(RunnerInstance, rt.executions.instance)
        if row is not None:
            session.delete(row)
            session.commit()


def _live_since(now: datetime, beat_s: float) -> datetime:
    """The oldest heartbeat of a live instance: `MISSED_BEATS` beats before `now`."""
    return now - timedelta(seconds=MISSED_BEATS * beat_s)


def forget_stale_instances(rt: Runtime, *, now: datetime) -> None:
    """Rows of instances gone long enough: a missing row means gone too."""
    limit = _live_since(now, rt.settings.instance_heartbeat_seconds)
    with rt.sessions() as session:
        session.execute(delete(RunnerInstance).where(RunnerInstance.heartbeat_at < limit))
        session.commit()


def live_instances(session: Session, *, now: datetime, beat_s: float) -> list[RunnerInstance]:
    """Instances whose heartbeat is fresher than `MISSED_BEATS` beats, oldest id first."""
    query = select(RunnerInstance).where(RunnerInstance.heartbeat_at >= _live_since(now, beat_s))
    return list(session.scalars(query.order_by(RunnerInstance.id)))


def instance_gone(session: Session, instance: str | None, *, now: datetime, beat_s: float) -> bool:
    """Whether the instance that ran an execution is gone, so its runs died with it: none
    recorded (before instances were), a process of this host that no longer exists, or a
    heartbeat `MISSED_BEATS` beats old (or none: a clean shutdown removed it)."""
    if instance is None or dead_local_holder(instance):
        return True
    seen = session.scalar(select(RunnerInstance.heartbeat_at).where(RunnerInstance.id == instance))
    return seen is None or seen < _live_since(now, beat_s)


def is_gone(rt: Runtime, instance: str | None) -> bool:
    """`instance_gone` in a read transaction of its own, by the runtime's clock and settings:
    for whatever else runs per instance (notebook servers, model servers)."""
    with rt.read_sessions() as session:
        return instance_gone(
            session,
            instance,
            now=naive_utc(rt.clock.now()),
            beat_s=rt.settings.instance_heartbeat_seconds,
        )


def to_stop(rt: Runtime) -> set[int]:
    """This instance's runs that must end (see the module's docstring)."""
    mine = rt.executions.running()
    if not mine:
        return set()
    with rt.read_sessions() as session:
        rows = session.execute(
            select(
                Execution.id,
                Execution.project_id,
                Execution.submitted_by,
                Execution.stop_requested_at,
            ).where(Execution.id.in_(mine))
        ).all()
        found = {row.id for row in rows}
        stop = mine - found  # deleted with their job or project
        for row in rows:
            if row.stop_requested_at is not None or not may_run(
                session, row.project_id, row.submitted_by
            ):
                stop.add(row.id)
    return stop


def kill_here(rt: Runtime, execution_id: int) -> bool:
    """Stop a run of this process (SIGTERM, SIGKILL after a grace period, off the caller's
    thread); its monitor records it KILLED and keeps its logs. False if it is not ours."""
    handle = rt.executions.request_stop(execution_id)
    if handle is None:
        return False
    threading.Thread(target=rt.backends.runner.kill, args=(handle,), daemon=True).start()
    return True


def stop_servers(rt: Runtime) -> int:
    """Ask this instance's notebook and model servers whose member may no longer run work
    in the project to stop (their own watchers stop them and record why); how many."""
    asked = 0
    for registry in (rt.notebooks, rt.servings):
        servers = [(key, registry.get(key)) for key in registry.running()]
        if not servers:
            continue  # most beats: no session opened for nothing
        with rt.read_sessions() as session:
            ending = [
                key
                for key, live in servers
                if live is not None and not may_run(session, live.project_id, live.user_id)
            ]
        for key in ending:
            registry.request_stop(key, "its member may no longer run work in the project")
        asked += len(ending)
    return asked


def sweep(rt: Runtime) -> set[int]:
    """One pass: the heartbeat, then stop what must end; returns the executions it stopped."""
    beat(rt)
    stopped = to_stop(rt)
    for execution_id in stopped:
        kill_here(rt, execution_id)
    if stopped:
        log.info("executions stopped by the watcher", extra={"executions": sorted(stopped)})
    stop_servers(rt)
    return stopped


class Watcher:
    """The thread running `sweep` every beat until `stop`."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="executions-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                sweep(self.rt)
            except Exception:
                log.exception("executions watcher pass failed")
            self.rt.executions.sleep(self.rt.settings.instance_heartbeat_seconds)

    def stop(self) -> None:
        self._stopping.set()
        self.rt.executions.wake()
        self._thread.join(timeout=10)
        try:
            forget_instance(self.rt)
        except Exception:
            log.exception("could not remove this instance's heartbeat")
