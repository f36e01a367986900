"""What a project's members reach through accepted shares: the input of the backend steps
that grant or revoke a member's access when they join or leave, or the project goes."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from hopsworks_api.backends.steps import IncomingShares
from hopsworks_api.datasets.models import Dataset
from hopsworks_api.projects.models import Project
from hopsworks_api.sharing.models import (
    DatasetShare,
    Permission,
    ResourceShare,
    ShareKind,
    ShareStatus,
)


def incoming(session: Session, project_id: int, *, lock: bool = False) -> IncomingShares:
    """`lock`: read with shared locks, i.e. the latest committed shares rather than the
    transaction's snapshot; a project deletion must revoke every share accepted before it
    took the project's lock, including ones committed after its first read."""
    accepted = ShareStatus.ACCEPTED
    datasets_query = (
        select(Project.name, Dataset.name, DatasetShare.permission)
        .join(Dataset, Dataset.project_id == Project.id)
        .join(DatasetShare, DatasetShare.dataset_id == Dataset.id)
        .where(DatasetShare.target_project_id == project_id, DatasetShare.status == accepted)
        .order_by(Project.name, Dataset.name)
    )
    resources_query = (
        select(Project.name, ResourceShare.kind, ResourceShare.resource, ResourceShare.permission)
        .join(ResourceShare, ResourceShare.owner_project_id == Project.id)
        .where(ResourceShare.target_project_id == project_id, ResourceShare.status == accepted)
        .order_by(Project.name, ResourceShare.resource)
    )
    if lock:
        datasets_query = datasets_query.with_for_update(read=True)
        resources_query = resources_query.with_for_update(read=True)
    datasets = session.execute(datasets_query).all()
    resources = session.execute(resources_query).all()
    editable = Permission.EDITABLE.value
    return IncomingShares(
        datasets=tuple((o, d, p == editable) for o, d, p in datasets),
        topics=tuple((o, r, p == editable) for o, k, r, p in resources if k == ShareKind.TOPIC),
        hive=tuple((o, p == editable) for o, k, _r, p in resources if k == ShareKind.HIVE),
    )
