"""Dataset use cases, and resolving a dataset name as a project sees it.

Inside project B, `A::name` is A's dataset `name` shared with B: the same bytes, reached
through B's access rights plus the share's permission. Nothing is ever copied.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from hopsworks_api import authz
from hopsworks_api.authz import Action, ProjectAccess
from hopsworks_api.datasets.models import DEFAULT_DATASETS, Dataset, DatasetCreate, DatasetRead
from hopsworks_api.db.unique import flush_unique
from hopsworks_api.errors import Conflict, NotFound
from hopsworks_api.projects import service as project_service
from hopsworks_api.projects.models import Project
from hopsworks_api.quotas import service as quota_service
from hopsworks_api.runtime import Runtime
from hopsworks_api.saga import Saga, commit_deletion
from hopsworks_api.sharing.models import DatasetShare, Permission, ShareStatus
from hopsworks_api.users.models import User

SHARED_SEPARATOR = "::"


@dataclass(frozen=True)
class DatasetRef:
    """A dataset as the requesting project addresses it."""

    owner_project_id: int
    owner_project: str
    name: str
    shared: bool
    permission: Permission | None

    @property
    def writable(self) -> bool:
        return not self.shared or self.permission == Permission.EDITABLE


def resolve(session: Session, access: ProjectAccess, name: str) -> DatasetRef:
    missing = NotFound(f"dataset '{name}' not found in project '{access.project}'")
    if SHARED_SEPARATOR not in name:
        found = session.scalar(
            select(Dataset.id).where(Dataset.project_id == access.project_id, Dataset.name == name)
        )
        if found is None:
            raise missing
        return DatasetRef(access.project_id, access.project, name, False, None)
    owner, _, dataset = name.partition(SHARED_SEPARATOR)
    row = session.execute(
        select(Project.id, DatasetShare.permission)
        .join(Dataset, Dataset.project_id == Project.id)
        .join(DatasetShare, DatasetShare.dataset_id == Dataset.id)
        .where(
            Project.name == owner,
            Dataset.name == dataset,
            DatasetShare.target_project_id == access.project_id,
            DatasetShare.status == ShareStatus.ACCEPTED,
        )
    ).first()
    if row is None:
        raise missing
    return DatasetRef(row.id, owner, dataset, True, Permission(row.permission))


def member_access(session: Session, *, project: str, user: User) -> ProjectAccess:
    """Members and admins get past this; outsiders get 404 before any name is resolved."""
    return project_service.authorize(
        session, project=project, user=user, action=Action.VIEW_PROJECT
    )


def list_datasets(rt: Runtime, *, user: User, project: str) -> list[DatasetRead]:
    with rt.read_sessions() as session:
        access = member_access(session, project=project, user=user)
        own = session.scalars(
            select(Dataset).where(Dataset.project_id == access.project_id).order_by(Dataset.name)
        ).all()
        shared = session.execute(
            select(Project.name, Dataset, DatasetShare.permission)
            .join(Dataset, Dataset.project_id == Project.id)
            .join(DatasetShare, DatasetShare.dataset_id == Dataset.id)
            .where(
                DatasetShare.target_project_id == access.project_id,
                DatasetShare.status == ShareStatus.ACCEPTED,
            )
            .order_by(Project.name, Dataset.name)
        ).all()
        items = [DatasetRead.model_validate(d) for d in own]
        items += [
            DatasetRead.model_validate(d).model_copy(
                update={
                    "name": f"{owner}{SHARED_SEPARATOR}{d.name}",
                    "shared": True,
                    "permission": perm,
                }
            )
            for owner, d, perm in shared
        ]
        return items


def create(rt: Runtime, *, user: User, project: str, data: DatasetCreate) -> DatasetRead:
    with rt.sessions() as session:
        access = project_service.authorize(
            session, project=project, user=user, action=Action.MANAGE_DATASETS
        )
        dataset = Dataset(
            project_id=access.project_id, name=data.name, description=data.description
        )
        session.add(dataset)
        flush_unique(session, f"dataset '{data.name}' already exists in '{project}'")
        with Saga("create dataset") as saga:
            saga.step(
                "storage: dataset directory",
                lambda: rt.storage.create_dataset(project, data.name),
                lambda: rt.storage.delete_dataset(project, data.name),
            )
            session.commit()
        return DatasetRead.model_validate(dataset)


def delete(rt: Runtime, *, user: User, project: str, dataset: str) -> None:
    """Delete an own dataset with its files and shares; for `owner::name`, leave the share."""
    with rt.sessions() as session:
        access = member_access(session, project=project, user=user)
        ref = resolve(session, access, dataset)
        if ref.shared:
            authz.require(access, Action.SHARE)
            _leave_share(session, access, ref)
            session.commit()
            return
        authz.require(access, Action.MANAGE_DATASETS)
        if dataset in DEFAULT_DATASETS:
            raise Conflict(f"'{dataset}' is a default dataset of every project and stays")
        row = session.scalar(
            select(Dataset).where(Dataset.project_id == access.project_id, Dataset.name == dataset)
        )
        size, files = rt.storage.usage(project, dataset)
        session.delete(row)
        quota_service.adjust(session, project_id=access.project_id, size=-size, files=-files)
        session.flush()
        trash = rt.storage.trash_dataset(project, dataset)
        commit_deletion(session, rt.storage, trash)


def _leave_share(session: Session, access: ProjectAccess, ref: DatasetRef) -> None:
    share = session.scalar(
        select(DatasetShare)
        .join(Dataset, Dataset.id == DatasetShare.dataset_id)
        .where(
            Dataset.project_id == ref.owner_project_id,
            Dataset.name == ref.name,
            DatasetShare.target_project_id == access.project_id,
        )
    )
    if share is not None:
        session.delete(share)
