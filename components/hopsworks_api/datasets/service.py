"""Dataset use cases, and resolving a dataset name as a project sees it.

Inside project B, `A::name` is A's dataset `name` shared with B: the same bytes, reached
through B's access rights plus the share's permission. Nothing is ever copied.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy import delete as delete_rows
from sqlalchemy.orm import Session

from hopsworks_api import authz
from hopsworks_api.authz import Action, ProjectAccess
from hopsworks_api.datasets.models import (
    DEFAULT_DATASETS,
    Dataset,
    DatasetCreate,
    DatasetRead,
    UploadReservation,
)
from hopsworks_api.db.driver_reads import DriverSelect, Reads, read_cursor, reads_of
from hopsworks_api.db.unique import flush_unique
from hopsworks_api.errors import Conflict, NotFound
from hopsworks_api.projects import service as project_service
from hopsworks_api.projects.models import Project
from hopsworks_api.provisioning.apply import commit_change
from hopsworks_api.quotas import service as quota_service
from hopsworks_api.runtime import Runtime
from hopsworks_api.sharing.ending import end_dataset_share
from hopsworks_api.sharing.models import DatasetShare, Permission, ShareStatus
from hopsworks_api.users.models import User

SHARED_SEPARATOR = "::"


@dataclass(frozen=True)
class DatasetRef:
    """A dataset as the requesting project addresses it. `dataset_id` (and `share_id` for
    a shared one) identify the very rows resolved: ids are never reused, so work that
    began on this dataset can tell, later, whether it still exists or was deleted and
    perhaps re-created under the same name."""

    owner_project_id: int
    owner_project: str
    name: str
    shared: bool
    permission: Permission | None
    dataset_id: int = 0
    share_id: int | None = None

    @property
    def writable(self) -> bool:
        return not self.shared or self.permission == Permission.EDITABLE


# Every file request resolves its dataset: built once (composing cost more than running it).
_OWN_DATASET_ID = DriverSelect(
    select(Dataset.id).where(
        Dataset.project_id == bindparam("project_id"), Dataset.name == bindparam("name")
    )
)
_SHARED_DATASET = DriverSelect(
    select(
        Project.id,
        DatasetShare.permission,
        Dataset.id.label("dataset_id"),
        DatasetShare.id.label("share_id"),
    )
    .join(Dataset, Dataset.project_id == Project.id)
    .join(DatasetShare, DatasetShare.dataset_id == Dataset.id)
    .where(
        Project.name == bindparam("owner"),
        Dataset.name == bindparam("name"),
        DatasetShare.target_project_id == bindparam("project_id"),
        DatasetShare.status == ShareStatus.ACCEPTED,
    )
)


def resolve(source: Session | Reads, access: ProjectAccess, name: str) -> DatasetRef:
    missing = NotFound(f"dataset '{name}' not found in project '{access.project}'")
    reads = reads_of(source)
    if SHARED_SEPARATOR not in name:
        found = reads.first(_OWN_DATASET_ID, project_id=access.project_id, name=name)
        if found is None:
            raise missing
        return DatasetRef(access.project_id, access.project, name, False, None, found.id)
    owner, _, dataset = name.partition(SHARED_SEPARATOR)
    row = reads.first(_SHARED_DATASET, owner=owner, name=dataset, project_id=access.project_id)
    if row is None:
        raise missing
    return DatasetRef(
        row.id, owner, dataset, True, Permission(row.permission), row.dataset_id, row.share_id
    )


def still_reachable(session: Session, ref: DatasetRef, *, lock: bool = False) -> bool:
    """Whether the dataset resolved earlier (by id) still exists and, for a shared one,
    its share is still accepted. `lock` takes the rows' locks for the rest of the
    transaction (dataset exclusively: publishing into it is ordered against its deletion)."""
    query = select(Dataset.id).where(Dataset.id == ref.dataset_id)
    if session.scalar(query.with_for_update() if lock else query) is None:
        return False
    if ref.share_id is None:
        return True
    share = select(DatasetShare.id).where(
        DatasetShare.id == ref.share_id, DatasetShare.status == ShareStatus.ACCEPTED
    )
    return session.scalar(share.with_for_update(read=True) if lock else share) is not None


def member_access(source: Session | Reads, *, project: str, user: User) -> ProjectAccess:
    """Members and admins get past this; outsiders get 404 before any name is resolved."""
    return project_service.authorize(source, project=project, user=user, action=Action.VIEW_PROJECT)


# Built once with bound parameters: composing them cost more than running them.
_OWN_DATASETS = DriverSelect(
    select(Dataset.name, Dataset.description, Dataset.created_at)
    .where(Dataset.project_id == bindparam("project_id"))
    .order_by(Dataset.name)
)
_SHARED_DATASETS = DriverSelect(
    select(
        Project.name.label("owner"),
        Dataset.name,
        Dataset.description,
        Dataset.created_at,
        DatasetShare.permission,
    )
    .join(Dataset, Dataset.project_id == Project.id)
    .join(DatasetShare, DatasetShare.dataset_id == Dataset.id)
    .where(
        DatasetShare.target_project_id == bindparam("project_id"),
        DatasetShare.status == ShareStatus.ACCEPTED,
    )
    .order_by(Project.name, Dataset.name)
)


def list_datasets(rt: Runtime, *, user: User, project: str) -> list[DatasetRead]:
    with read_cursor(rt.engine) as reads:
        access = member_access(reads, project=project, user=user)
        own = reads.all(_OWN_DATASETS, project_id=access.project_id)
        shared = reads.all(_SHARED_DATASETS, project_id=access.project_id)
    items = [
        DatasetRead(
            name=name,
            description=description,
            created_at=created_at,
            writable=may_write(access, name, shared=False, permission=None),
        )
        for name, description, created_at in own
    ]
    items += [
        DatasetRead(
            name=f"{owner}{SHARED_SEPARATOR}{name}",
            description=description,
            created_at=created_at,
            shared=True,
            permission=permission,
            writable=may_write(access, name, shared=True, permission=permission),
        )
        for owner, name, description, created_at, permission in shared
    ]
    return items


def may_write(
    access: ProjectAccess, name: str, *, shared: bool, permission: Permission | None
) -> bool:
    """The caller's role allows writing this dataset and, if shared, the share does too."""
    ref = DatasetRef(0, "", name, shared, permission)
    return authz.allowed(access, authz.write_action(name, shared=shared)) and ref.writable


def create(rt: Runtime, *, user: User, project: str, data: DatasetCreate) -> DatasetRead:
    """Authorized in a read-only transaction, then, as every writer of a project's rows,
    the write transaction's first statement is the project's shared lock (by that id): a
    deletion of the project waits for this creation (and trashes its directory) or this
    answers 404 having made nothing. Authorized again under the lock."""
    action = Action.MANAGE_DATASETS
    with rt.sessions() as session:
        access = project_service.locked_access(
            rt, session, user=user, project=project, action=action
        )
        dataset = Dataset(
            project_id=access.project_id, name=data.name, description=data.description
        )
        session.add(dataset)
        flush_unique(session, f"dataset '{data.name}' already exists in '{project}'")
        result, dataset_id = DatasetRead.model_validate(dataset), dataset.id

        def undo(session: Session) -> None:
            session.execute(delete_rows(Dataset).where(Dataset.id == dataset_id))

        commit_change(rt, session, reason="create dataset", projects=[access.project_id], undo=undo)
        return result


def delete(rt: Runtime, *, user: User, project: str, dataset: str) -> None:
    """Delete an own dataset with its files and shares; for `owner::name`, leave the share.

    Uploads in flight into the dataset fail: their reservations are given back here, in
    the deletion's transaction, and an upload publishes only while its reservation exists
    under the dataset's row lock (files.Upload.finish), which this deletion holds.

    The name resolution (plain reads) comes before the locks, so this transaction's MariaDB
    snapshot may predate them; that is safe because every read after them that decides
    anything is itself a locking read of the latest rows (the dataset, its reservations, or
    the share left), and the quota changes are UPDATEs."""
    with rt.sessions() as session:
        access = member_access(session, project=project, user=user)
        ref = resolve(session, access, dataset)
        if ref.shared:
            authz.require(access, Action.SHARE)
            _leave_share(rt, session, access, ref)
            return
        authz.require(access, Action.MANAGE_DATASETS)
        if dataset in DEFAULT_DATASETS:
            raise Conflict(f"'{dataset}' is a default dataset of every project and stays")
        project_service.lock(session, access.project_id)
        row = session.scalar(select(Dataset).where(Dataset.id == ref.dataset_id).with_for_update())
        if row is None:
            raise NotFound(f"dataset '{dataset}' not found in project '{project}'")
        uploads = session.scalars(
            select(UploadReservation)
            .where(UploadReservation.dataset_id == row.id)
            .with_for_update()
        ).all()
        held = sum(u.bytes for u in uploads), sum(u.files for u in uploads)
        tokens = [u.token for u in uploads]
        session.execute(
            delete_rows(UploadReservation).where(UploadReservation.dataset_id == row.id)
        )
        size, files = rt.backends.storage.usage(project, dataset)
        session.delete(row)
        quota_service.adjust(
            session,
            project_id=access.project_id,
            size=-(size + held[0]),
            files=-(files + held[1]),
        )
        session.flush()
        _commit_deletion(session, rt.backends.storage.trash_dataset(project, dataset), rt)
    for token in tokens:
        rt.backends.storage.discard_upload(project, dataset, token)


def _commit_deletion(session: Session, trashed: object, rt: Runtime) -> None:
    """Commit the DB half of a deletion whose files were already moved aside: if the commit
    fails the files come back; once it succeeded they are purged for good. One system and
    the DB: no journal needed, the trash is the undo."""
    try:
        session.commit()
    except BaseException:
        rt.backends.storage.restore(trashed)
        raise
    rt.backends.storage.purge(trashed)


def _leave_share(rt: Runtime, session: Session, access: ProjectAccess, ref: DatasetRef) -> None:
    """The receiving project leaves an accepted share: the row and the storage grant of its
    group end together (through provisioning), as when the owner unshares."""
    project_service.lock(session, ref.owner_project_id)
    project_service.lock(session, access.project_id)
    share = session.scalar(
        select(DatasetShare).where(DatasetShare.id == ref.share_id).with_for_update()
    )
    if share is None:
        raise NotFound(f"dataset '{ref.owner_project}{SHARED_SEPARATOR}{ref.name}' not found")
    end_dataset_share(rt, session, share)
