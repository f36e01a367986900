"""A notebook server's life as the database records it, wherever the server runs (embedded
in the job runner's sandbox, `service`, or as a Pod in the project's namespace, `in_cluster`):
Jupyter's own status, the checks that stop it (membership, credits, idleness), charging its
core-seconds, and its state changes up to how it ended."""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta
from urllib.parse import quote

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hopsworks_api.clock import naive_utc
from hopsworks_api.db.base import utcnow
from hopsworks_api.jobs import watch
from hopsworks_api.notebooks.models import ACTIVE_STATES, NotebookServer, NotebookState
from hopsworks_api.notebooks.registry import LiveServer
from hopsworks_api.quotas import accounting
from hopsworks_api.quotas.models import ProjectQuota
from hopsworks_api.runtime import Runtime

log = logging.getLogger(__name__)


def base_url(project: str) -> str:
    """The proxy's prefix, which is also Jupyter's `base_url` (so its links stay on it)."""
    return f"/api/projects/{quote(project, safe='')}/jupyter/proxy/"


def parse_time(value: str) -> datetime:
    return naive_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))


def jupyter_status(http: httpx.Client, live: LiveServer) -> dict | None:
    """Jupyter's `/api/status` (not itself counted as activity), None while it does not
    answer."""
    try:
        reply = http.get(
            f"{base_url(live.project)}api/status",
            headers={"Authorization": f"token {live.token}"},
        )
    except httpx.HTTPError:
        return None
    return reply.json() if reply.status_code == 200 else None


def why_stop(rt: Runtime, live: LiveServer, row: NotebookServer) -> str | None:
    """Why the server must stop now: its member may no longer run work in the project (left,
    removed, role changed, account gone or disabled, project deleted: `watch.may_run`, as
    for executions), the project's credits are spent, or it idled too long."""
    with rt.read_sessions() as session:
        if not watch.may_run(session, live.project_id, live.user_id):
            return "its member may no longer run work in the project"
        quota = session.get(ProjectQuota, live.project_id)
        if quota is not None and accounting.over_credits(quota):
            return "the project's compute credits are spent"
    if row.last_activity_at is not None:
        idle = naive_utc(rt.clock.now()) - row.last_activity_at
        if idle > timedelta(minutes=row.idle_timeout_minutes):
            return f"idle for more than {row.idle_timeout_minutes} minute(s)"
    return None


def charge(
    session: Session, server_id: int, started_at: datetime, until: datetime
) -> NotebookServer | None:
    """Charge cores x seconds from the start up to `until` (what was charged before is
    subtracted), the quota row locked first, as every charge takes it; None if the row is
    not this run of the server any more."""
    project_id = session.scalar(
        select(NotebookServer.project_id).where(NotebookServer.id == server_id)
    )
    if project_id is None:  # the project (or the account) was deleted meanwhile
        return None
    quota = session.get(ProjectQuota, project_id, with_for_update=True)
    row = session.scalar(
        select(NotebookServer).where(NotebookServer.id == server_id).with_for_update()
    )
    if row is None or row.started_at != started_at or row.state not in ACTIVE_STATES:
        return None  # not this run of the server any more
    millis = round(row.cores * max(0.0, (until - row.started_at).total_seconds()) * 1000)
    credits = math.ceil(millis / 1000)
    if quota is not None:
        quota.compute_seconds_used += max(0, credits - row.credits)
    row.core_millis, row.credits, row.charged_until = millis, max(row.credits, credits), until
    return row


def check(rt: Runtime, live: LiveServer, status: dict | None) -> None:
    """Record activity and usage; ask for a stop when the server may not go on."""
    with rt.sessions() as session:
        row = charge(session, live.server_id, live.started_at, utcnow())
        if row is None:
            live.reason = "its record is gone"
            live.stop.set()
            return
        if status is not None and status.get("last_activity"):
            row.last_activity_at = parse_time(status["last_activity"])
        session.commit()
        session.refresh(row)
        session.expunge(row)
    reason = why_stop(rt, live, row)
    if reason is not None:
        live.reason = reason
        live.stop.set()


def mark_running(rt: Runtime, live: LiveServer) -> None:
    with rt.sessions() as session:
        session.execute(
            update(NotebookServer)
            .where(
                NotebookServer.id == live.server_id,
                NotebookServer.started_at == live.started_at,
                NotebookServer.state == NotebookState.STARTING.value,
            )
            .values(state=NotebookState.RUNNING.value, last_activity_at=utcnow())
        )
        session.commit()


def set_state(rt: Runtime, live: LiveServer, state: NotebookState) -> None:
    with rt.sessions() as session:
        session.execute(
            update(NotebookServer)
            .where(
                NotebookServer.id == live.server_id,
                NotebookServer.started_at == live.started_at,
                NotebookServer.state.in_(ACTIVE_STATES),
            )
            .values(state=state.value)
        )
        session.commit()


def end(
    rt: Runtime,
    server_id: int,
    started_at: datetime,
    *,
    state: NotebookState,
    reason: str,
    tail: str | None,
    until: datetime | None = None,
) -> None:
    """Charge the rest of the run and record how it ended (once)."""
    with rt.sessions() as session:
        row = charge(session, server_id, started_at, until or utcnow())
        if row is None:
            return
        row.state = state.value
        row.stopped_at = utcnow()
        row.stop_reason = reason[:255]
        row.log_tail = tail
        session.commit()


def finish(
    rt: Runtime, live: LiveServer, *, state: NotebookState, reason: str, tail: str | None
) -> None:
    """The last step of every watcher, embedded or in a cluster, once its server is gone:
    forget it, record how it ended and charge it, then release whoever waits for it."""
    rt.notebooks.forget(live.server_id)
    log.info(
        "notebook server ended",
        extra={
            "server": live.server_id,
            "project": live.project,
            "state": state.value,
            "reason": reason,
        },
    )
    try:
        end(rt, live.server_id, live.started_at, state=state, reason=reason, tail=tail)
    except Exception:
        log.exception("could not record the end of notebook server %s", live.server_id)
    live.done.set()
