"""Scheduled jobs: the lease holder starts every job whose schedule is due, as its creator.

Each due run is claimed by moving the job's `next_run_at` from the value read to the next
fire time after now, in one conditional UPDATE: only the caller that changed the row starts
the execution, so two instances (a leader and one that lost the lease without knowing) or a
repeated pass never start a run twice. The next fire time is counted from now, not from the
missed one: runs missed while the service was down collapse into a single run.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select, update

from hopsworks_api.clock import naive_utc
from hopsworks_api.coordination.lease import Lease
from hopsworks_api.errors import AppError
from hopsworks_api.jobs import cron, service
from hopsworks_api.jobs.models import ExecutionStart, Job
from hopsworks_api.projects.models import Project
from hopsworks_api.runtime import Runtime
from hopsworks_api.users.models import User

log = logging.getLogger(__name__)


def fire_due(rt: Runtime, lease: Lease) -> list[int]:
    """Start the due scheduled runs; the ids of the executions started."""
    now = naive_utc(rt.clock.now())
    with rt.read_sessions() as session:
        due = session.execute(
            select(Job.id, Job.name, Job.schedule, Job.next_run_at, Job.created_by, Project.name)
            .join(Project, Project.id == Job.project_id)
            .where(Job.next_run_at.is_not(None), Job.next_run_at <= now)
            .order_by(Job.next_run_at, Job.id)
        ).all()
    started: list[int] = []
    for job_id, job, schedule, due_at, creator_id, project in due:
        lease.check()
        if not _claim(rt, job_id, due_at, cron.next_run(schedule, rt.clock)):
            continue  # another instance or pass claimed it, or the schedule changed
        context = {"project": project, "job": job, "due_at": due_at.isoformat()}
        with rt.read_sessions() as session:
            user = session.get(User, creator_id) if creator_id is not None else None
            if user is not None:
                session.expunge(user)
        if user is None or not user.is_active:
            log.warning("scheduled run skipped: its creator's account is gone", extra=context)
            continue
        try:
            execution = service.start(
                rt, user=user, project=project, job=job, data=ExecutionStart()
            )
        except AppError as exc:  # not a member any more, admission refused (413), ...
            log.warning("scheduled run skipped: %s", exc, extra={**context, "reason": exc.code})
            continue
        log.info("scheduled run started", extra={**context, "execution": execution.id})
        started.append(execution.id)
    return started


def _claim(rt: Runtime, job_id: int, due_at: datetime, next_at: datetime | None) -> bool:
    with rt.sessions() as session:
        claimed = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.next_run_at == due_at)
            .values(next_run_at=next_at)
        ).rowcount
        session.commit()
    return claimed == 1
