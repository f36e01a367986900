"""Quota reservation and reporting.

Space is reserved with one conditional UPDATE before bytes are written, so two uploads
racing for the last free bytes cannot both succeed, on SQLite or MariaDB alike.
"""

from __future__ import annotations

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from hopsworks_api.authz import Action
from hopsworks_api.errors import NotFound, PayloadTooLarge
from hopsworks_api.projects import service as project_service
from hopsworks_api.provisioning.apply import commit_change
from hopsworks_api.quotas import accounting
from hopsworks_api.quotas.models import (
    ComputePayment,
    Limit,
    ProjectQuota,
    QuotaRead,
    QuotaUpdate,
)
from hopsworks_api.runtime import Runtime
from hopsworks_api.topics.models import Topic
from hopsworks_api.users.models import User

_FIELDS = {
    "storage_bytes": "storage_bytes_limit",
    "storage_files": "storage_files_limit",
    "hive_bytes": "hive_bytes_limit",
    "compute_seconds": "compute_seconds_limit",
    "gpus": "gpus_limit",
    "kafka_topics": "kafka_topics_limit",
    "compute_payment": "compute_payment",
}


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def take(session: Session, *, project_id: int, project: str, size: int, files: int) -> None:
    """Take `size` bytes and `files` entries inside the caller's transaction, or raise 413
    (the caller rolls back). One conditional UPDATE: no read-then-write race."""
    q = ProjectQuota
    result = session.execute(
        update(q)
        .where(
            q.project_id == project_id,
            or_(
                q.storage_bytes_limit.is_(None),
                q.storage_bytes_used + size <= q.storage_bytes_limit,
            ),
            or_(
                q.storage_files_limit.is_(None),
                and_(q.storage_files_used + files <= q.storage_files_limit),
            ),
        )
        .values(
            storage_bytes_used=q.storage_bytes_used + size,
            storage_files_used=q.storage_files_used + files,
        )
    )
    if result.rowcount == 1:
        return
    quota = session.get(ProjectQuota, project_id, populate_existing=True)
    if quota is None:
        raise NotFound(f"project '{project}' not found")
    if quota.storage_files_limit is not None and (
        quota.storage_files_used + files > quota.storage_files_limit
    ):
        raise PayloadTooLarge(
            f"project '{project}' may hold at most {quota.storage_files_limit} files "
            f"and already holds {quota.storage_files_used}"
        )
    free = max(0, (quota.storage_bytes_limit or 0) - quota.storage_bytes_used)
    raise PayloadTooLarge(
        f"storage quota of project '{project}' exceeded: {_human(size)} more would pass "
        f"the limit of {_human(quota.storage_bytes_limit or 0)} ({_human(free)} free)"
    )


def take_step(
    session: Session, *, project_id: int, project: str, needed: int, preferred: int
) -> int:
    """Take at least `needed` bytes and, to save round trips, up to `preferred`, but never
    more than is free: a body that fits the quota is never refused because of the step
    size. Returns what was taken; raises 413 when `needed` itself does not fit."""
    quota = session.get(ProjectQuota, project_id, with_for_update=True, populate_existing=True)
    if quota is None:
        raise NotFound(f"project '{project}' not found")
    grant = max(needed, preferred)
    if quota.storage_bytes_limit is not None:
        free = max(0, quota.storage_bytes_limit - quota.storage_bytes_used)
        grant = max(needed, min(preferred, free))
    take(session, project_id=project_id, project=project, size=grant, files=0)
    return grant


def adjust(session: Session, *, project_id: int, size: int, files: int) -> None:
    """Give back (negative) or take (positive) usage without a limit check: the bytes
    already exist or are already gone, so the counter must follow them."""
    q = ProjectQuota
    session.execute(
        update(q)
        .where(q.project_id == project_id)
        .values(
            storage_bytes_used=q.storage_bytes_used + size,
            storage_files_used=q.storage_files_used + files,
        )
    )


def _read(rt: Runtime, project: str, quota: ProjectQuota, topics: int) -> QuotaRead:
    """GPU usage is what the project's queue holds right now, asked of the compute system;
    the other usages are the service's own counters."""
    gpus_used = rt.backends.compute.queue_info(project).used_gpus
    return QuotaRead(
        project=project,
        storage_bytes=Limit(
            limit=quota.storage_bytes_limit, usage=quota.storage_bytes_used, enforced=True
        ),
        storage_files=Limit(
            limit=quota.storage_files_limit, usage=quota.storage_files_used, enforced=True
        ),
        hive_bytes=Limit(limit=quota.hive_bytes_limit, usage=quota.hive_bytes_used, enforced=True),
        compute_seconds=Limit(
            limit=quota.compute_seconds_limit,
            usage=quota.compute_seconds_used,
            enforced=quota.compute_payment == ComputePayment.PREPAID,
        ),
        compute_payment=ComputePayment(quota.compute_payment),
        compute_stopped=quota.compute_stopped,
        gpu_credit_multiplier=rt.settings.gpu_credit_multiplier,
        gpus=Limit(limit=quota.gpus_limit, usage=gpus_used, enforced=True),
        kafka_topics=Limit(limit=quota.kafka_topics_limit, usage=topics, enforced=True),
    )


def _topics(session: Session, project_id: int) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(Topic).where(Topic.project_id == project_id)
        )
        or 0
    )


def get(rt: Runtime, *, user: User, project: str) -> QuotaRead:
    with rt.read_sessions() as session:
        access = project_service.authorize(
            session, project=project, user=user, action=Action.VIEW_PROJECT
        )
        quota = session.get(ProjectQuota, access.project_id)
        assert quota is not None
        return _read(rt, access.project, quota, _topics(session, access.project_id))


def set_limits(rt: Runtime, *, user: User, project: str, data: QuotaUpdate) -> QuotaRead:
    """Platform admins only. A limit below current usage blocks new work, deletes nothing.

    A GPU limit reaches the systems that enforce it through provisioning: the serving
    namespace's ResourceQuota (`requests.nvidia.com/gpu`) and the YARN queue's largest
    container; if one refuses, the old limits come back. Credit and Hive limits are then
    enforced at once by one accounting round for the project (and by every periodic round
    after it)."""
    with rt.sessions() as session:
        access = project_service.authorize(
            session, project=project, user=user, action=Action.SET_QUOTAS
        )
        quota = session.get(ProjectQuota, access.project_id, with_for_update=True)
        assert quota is not None
        old_gpus = quota.gpus_limit
        for key in data.model_fields_set:
            value = getattr(data, key)
            if key == "compute_payment" and value is None:
                continue  # the payment type always has a value
            setattr(quota, _FIELDS[key], value)
        session.flush()
        if quota.gpus_limit == old_gpus:
            session.commit()
        else:
            project_id = access.project_id

            def undo(session: Session) -> None:
                session.execute(
                    update(ProjectQuota)
                    .where(ProjectQuota.project_id == project_id)
                    .values(gpus_limit=old_gpus)
                )

            commit_change(rt, session, reason="set GPU quota", projects=[project_id], undo=undo)
    accounting.account(rt, project=access.project)
    with rt.read_sessions() as session:
        quota = session.get(ProjectQuota, access.project_id)
        assert quota is not None
        return _read(rt, access.project, quota, _topics(session, access.project_id))
