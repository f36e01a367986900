"""Charge compute credits, measure Hive databases, and enforce both.

Compute systems and HiveServer2 are used directly by jobs and notebooks, not through the
service, so these quotas cannot be reserved up front like storage bytes. They are polled:

- compute: every application's cumulative resource-seconds (`application_usage`) are
  charged as deltas per application (`compute_charges`), in credits: vcore-seconds plus
  GPU-seconds times `gpu_credit_multiplier`. A PREPAID project whose credits are spent has
  its queue stopped (running work finishes, nothing new is admitted, the backend refuses
  it); topping up or switching to NOLIMIT starts it again. `admit_compute` is the service's
  own check before it admits work (jobs, notebooks, servings);
- Hive: the database's size is measured (`describe`); over its limit every member's
  privileges are narrowed to SELECT until it is back under, when the role grants return.

Each project is charged in its own transaction; a backend that does not answer skips that
project for this round (the deltas wait for the next poll, nothing is lost or charged twice).

Compute systems know a project only by its name (the queue), and keep finished
applications after the project is gone, while its `compute_charges` rows go with it. An
application belongs to the project that existed when it was submitted: one started before
the current project of that name was created is an earlier project's and is neither
charged nor recorded (`_charge`), so a project re-created under a deleted one's name starts
with nothing to pay and its queue is not stopped for someone else's work. An application id
already charged to another project is never charged again either.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hopsworks_api.backends.compute.base import AppUsage
from hopsworks_api.backends.errors import BackendUnavailable
from hopsworks_api.db.base import utcnow
from hopsworks_api.errors import AppError, NotFound, PayloadTooLarge
from hopsworks_api.projects.models import Project, ProjectStatus
from hopsworks_api.provisioning.apply import commit_change
from hopsworks_api.quotas.models import ComputeCharge, ComputePayment, ProjectQuota
from hopsworks_api.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass
class AccountingReport:
    charged: dict[str, int] = field(default_factory=dict)  # project -> credits this round
    stopped: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    hive_blocked: list[str] = field(default_factory=list)
    hive_unblocked: list[str] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)


def credits_for(vcore_seconds: int, gpu_seconds: int, multiplier: float) -> int:
    return vcore_seconds + math.ceil(gpu_seconds * multiplier)


def over_credits(quota: ProjectQuota) -> bool:
    return (
        quota.compute_payment == ComputePayment.PREPAID
        and quota.compute_seconds_limit is not None
        and quota.compute_seconds_used >= quota.compute_seconds_limit
    )


def admit_compute(session: Session, *, project_id: int, project: str, gpus: int = 0) -> None:
    """Refuse work (413) a PREPAID project has no credits left for, or that asks for more
    GPUs than the project may hold at once (`used_gpus` counts what it holds now)."""
    quota = session.get(ProjectQuota, project_id)
    if quota is None:
        raise NotFound(f"project '{project}' not found")
    if over_credits(quota):
        raise PayloadTooLarge(
            f"project '{project}' has spent its {quota.compute_seconds_limit} compute credits "
            f"({quota.compute_seconds_used} used); ask a platform admin for more",
            code="compute_credits_exhausted",
        )
    if quota.gpus_limit is not None and gpus > quota.gpus_limit:
        raise PayloadTooLarge(
            f"project '{project}' may use at most {quota.gpus_limit} GPUs, {gpus} were requested",
            code="gpu_quota_exceeded",
        )


def _belongs_to_another_project(app: AppUsage, created_at: datetime) -> bool:
    """An application submitted before this project existed is an earlier project's (the
    queue is named after the project, and the compute system outlives deletions).

    Both times are naive UTC; `created_at` is taken before the project's queue is created
    (`projects.service.create`), so the project's own applications always start after it,
    as long as the compute system's clock is not behind the service's by more than the
    time a project creation takes (hosts keep NTP time)."""
    return app.started_at is not None and app.started_at < created_at


def _charge(rt: Runtime, session: Session, project_id: int, name: str, apps: list[AppUsage]) -> int:
    """Charge the growth of every application since the last poll; return the credits."""
    multiplier = rt.settings.gpu_credit_multiplier
    created_at = session.execute(
        select(Project.created_at).where(Project.id == project_id)
    ).scalar_one()
    total = 0
    for app in apps:
        if _belongs_to_another_project(app, created_at):
            continue
        row = session.get(ComputeCharge, app.app_id)
        if row is not None and row.project_id != project_id:
            # The id is charged to another project (an embedded backend's job ids are the
            # caller's to choose): neither project's usage may be offset by the other's.
            log.warning(
                "application charged to another project",
                extra={"app_id": app.app_id, "project": name},
            )
            continue
        if row is None:
            row = ComputeCharge(
                app_id=app.app_id, project_id=project_id, vcore_seconds=0, gpu_seconds=0, credits=0
            )
            session.add(row)
        vcores = max(0, app.vcore_seconds - row.vcore_seconds)
        gpus = max(0, app.gpu_seconds - row.gpu_seconds)
        if vcores == 0 and gpus == 0:
            continue
        credits = credits_for(vcores, gpus, multiplier)
        row.vcore_seconds += vcores
        row.gpu_seconds += gpus
        row.credits += credits
        row.updated_at = utcnow()
        total += credits
    return total


def _enforce_compute(quota: ProjectQuota, name: str, report: AccountingReport) -> bool:
    stop = over_credits(quota)
    if stop == quota.compute_stopped:
        return False
    quota.compute_stopped = stop
    (report.stopped if stop else report.resumed).append(name)
    return True


def _enforce_hive(quota: ProjectQuota, name: str, size: int, report: AccountingReport) -> bool:
    quota.hive_bytes_used = size
    block = quota.hive_bytes_limit is not None and quota.hive_bytes_used > quota.hive_bytes_limit
    if block == quota.hive_writes_blocked:
        return False
    quota.hive_writes_blocked = block
    (report.hive_blocked if block else report.hive_unblocked).append(name)
    return True


def account(rt: Runtime, *, project: str | None = None) -> AccountingReport:
    """The systems are read first, outside any transaction; each project's charge and
    flags then commit in one short transaction, and a flag that changed (queue stopped,
    Hive read-only) reaches the systems through provisioning, like any other change."""
    report = AccountingReport()
    with rt.read_sessions() as session:
        query = select(Project.id, Project.name).where(Project.status == ProjectStatus.ACTIVE)
        if project is not None:
            query = query.where(Project.name == project)
        projects = session.execute(query.order_by(Project.name)).all()
    for project_id, name in projects:
        try:
            apps = rt.backends.compute.application_usage(name)
            size = rt.backends.hive.describe(name).size_bytes
            with rt.sessions() as session:
                quota = session.get(ProjectQuota, project_id, with_for_update=True)
                if quota is None:  # deleted since the list was read
                    continue
                charged = _charge(rt, session, project_id, name, apps)
                quota.compute_seconds_used += charged
                if charged:
                    report.charged[name] = charged
                flags = _enforce_compute(quota, name, report)
                flags = _enforce_hive(quota, name, size, report) or flags
                if flags:
                    # roll forward only: the flags follow measured usage, nothing to undo
                    commit_change(
                        rt, session, reason="enforce quotas", projects=[project_id], undo=None
                    )
                else:
                    session.commit()
        except BackendUnavailable as exc:
            report.unreachable.append(f"{name}: {exc.message}")
        except AppError as exc:  # e.g. a queue or database missing: reconcile repairs it
            report.unreachable.append(f"{name}: {exc.message}")
    if report.stopped or report.hive_blocked:
        log.warning(
            "quota enforced",
            extra={"stopped": report.stopped, "hive_blocked": report.hive_blocked},
        )
    return report
