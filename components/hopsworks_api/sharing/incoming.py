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


def incoming(session: Session, project_id: int) -> IncomingShares:
    accepted = ShareStatus.ACCEPTED
    datasets = session.execute(
        select(Project.name, Dataset.name, DatasetShare.permission)
        .join(Dataset, Dataset.project_id == Project.id)
        .join(DatasetShare, DatasetShare.dataset_id == Dataset.id)
        .where(DatasetShare.target_project_id == project_id, DatasetShare.status == accepted)
        .order_by(Project.name, Dataset.name)
    ).all()
    resources = session.execute(
        select(Project.name, ResourceShare.kind, ResourceShare.resource, ResourceShare.permission)
        .join(ResourceShare, ResourceShare.owner_project_id == Project.id)
        .where(ResourceShare.target_project_id == project_id, ResourceShare.status == accepted)
        .order_by(Project.name, ResourceShare.resource)
    ).all()
    editable = Permission.EDITABLE.value
    return IncomingShares(
        datasets=tuple((o, d, p == editable) for o, d, p in datasets),
        topics=tuple((o, r, p == editable) for o, k, r, p in resources if k == ShareKind.TOPIC),
        hive=tuple((o, p == editable) for o, k, _r, p in resources if k == ShareKind.HIVE),
    )
