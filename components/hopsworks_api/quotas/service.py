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
from hopsworks_api.quotas.models import Limit, ProjectQuota, QuotaRead, QuotaUpdate
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
}


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def reserve(session: Session, *, project_id: int, project: str, size: int, files: int) -> None:
    """Take `size` bytes and `files` entries from the quota or raise 413, atomically."""
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
        session.commit()
        return
    session.rollback()
    quota = session.get(ProjectQuota, project_id)
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


def _read(project: str, quota: ProjectQuota, topics: int = 0) -> QuotaRead:
    def unenforced(limit: int | None) -> Limit:
        return Limit(limit=limit, usage=0, enforced=False)

    return QuotaRead(
        project=project,
        storage_bytes=Limit(
            limit=quota.storage_bytes_limit, usage=quota.storage_bytes_used, enforced=True
        ),
        storage_files=Limit(
            limit=quota.storage_files_limit, usage=quota.storage_files_used, enforced=True
        ),
        hive_bytes=unenforced(quota.hive_bytes_limit),
        compute_seconds=unenforced(quota.compute_seconds_limit),
        gpus=unenforced(quota.gpus_limit),
        kafka_topics=Limit(limit=quota.kafka_topics_limit, usage=topics, enforced=True),
    )


def get(rt: Runtime, *, user: User, project: str) -> QuotaRead:
    with rt.read_sessions() as session:
        access = project_service.authorize(
            session, project=project, user=user, action=Action.VIEW_PROJECT
        )
        quota = session.get(ProjectQuota, access.project_id)
        assert quota is not None
        topics = session.scalar(
            select(func.count()).select_from(Topic).where(Topic.project_id == access.project_id)
        )
        return _read(access.project, quota, topics or 0)


def set_limits(rt: Runtime, *, user: User, project: str, data: QuotaUpdate) -> QuotaRead:
    """Platform admins only. A limit below current usage blocks new writes, deletes none."""
    with rt.sessions() as session:
        access = project_service.authorize(
            session, project=project, user=user, action=Action.SET_QUOTAS
        )
        quota = session.get(ProjectQuota, access.project_id, with_for_update=True)
        assert quota is not None
        for key in data.model_fields_set:
            setattr(quota, _FIELDS[key], getattr(data, key))
        session.commit()
        return _read(access.project, quota)
