"""Sharing datasets between projects: offer -> accept | reject -> use -> unshare.

A share is one row: the target project's members reach the owner's bytes through it.
Deleting either project or the dataset deletes the row (FK cascade), so no share dangles.
Accepting grants the target project's group on the dataset in storage (an HDFS ACL); every
way an accepted share ends (the owner unshares, the target rejects it or leaves it as
`owner::dataset`, either project is deleted) revokes it through provisioning, or is undone
if a system refuses.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from hopsworks_api import authz
from hopsworks_api.authz import Action, ProjectAccess
from hopsworks_api.datasets.models import Dataset
from hopsworks_api.datasets.service import SHARED_SEPARATOR, member_access
from hopsworks_api.db.unique import commit_unique
from hopsworks_api.errors import BadRequest, Conflict, NotFound
from hopsworks_api.projects import service as project_service
from hopsworks_api.projects.models import Project
from hopsworks_api.provisioning.apply import commit_change
from hopsworks_api.runtime import Runtime
from hopsworks_api.sharing.ending import end_dataset_share, undo_accept
from hopsworks_api.sharing.models import (
    DatasetShare,
    Permission,
    ShareCreate,
    ShareRead,
    ShareStatus,
)
from hopsworks_api.users.models import User

Owner = Project.__table__.alias("owner")
Target = Project.__table__.alias("target")


def _query():  # type: ignore[no-untyped-def]
    return (
        select(DatasetShare, Dataset.name, Owner.c.name, Target.c.name)
        .join(Dataset, Dataset.id == DatasetShare.dataset_id)
        .join(Owner, Owner.c.id == Dataset.project_id)
        .join(Target, Target.c.id == DatasetShare.target_project_id)
    )


def _read(row) -> ShareRead:  # type: ignore[no-untyped-def]
    share, dataset, owner, target = row
    return ShareRead(
        owner_project=owner,
        dataset=dataset,
        project=target,
        permission=Permission(share.permission),
        status=ShareStatus(share.status),
        created_at=share.created_at,
    )


def _own_dataset(session: Session, access: ProjectAccess, dataset: str) -> Dataset:
    if SHARED_SEPARATOR in dataset:
        raise BadRequest("only a project's own datasets can be shared onward")
    row = session.scalar(
        select(Dataset).where(Dataset.project_id == access.project_id, Dataset.name == dataset)
    )
    if row is None:
        raise NotFound(f"dataset '{dataset}' not found in project '{access.project}'")
    return row


def offer(rt: Runtime, *, user: User, project: str, dataset: str, data: ShareCreate) -> ShareRead:
    """No project lock and no read after one: an offer grants nothing, and the INSERT's
    foreign-key checks read (and lock) the latest dataset and target rows, so an offer
    racing a deletion either commits first (and goes with the cascade) or fails."""
    with rt.sessions() as session:
        access = member_access(session, project=project, user=user)
        authz.require(access, Action.SHARE)
        own = _own_dataset(session, access, dataset)
        target = session.scalar(select(Project).where(Project.name == data.project))
        if target is None:
            raise NotFound(f"project '{data.project}' not found")
        if target.id == access.project_id:
            raise BadRequest("a dataset cannot be shared with its own project")
        share = DatasetShare(
            dataset_id=own.id,
            target_project_id=target.id,
            permission=data.permission,
            status=ShareStatus.PENDING,
        )
        session.add(share)
        commit_unique(session, f"'{dataset}' is already shared with '{data.project}'")
        return ShareRead(
            owner_project=project,
            dataset=dataset,
            project=target.name,
            permission=data.permission,
            status=ShareStatus.PENDING,
            created_at=share.created_at,
        )


def list_shares(rt: Runtime, *, user: User, project: str, dataset: str) -> list[ShareRead]:
    with rt.read_sessions() as session:
        access = member_access(session, project=project, user=user)
        own = _own_dataset(session, access, dataset)
        rows = session.execute(
            _query().where(DatasetShare.dataset_id == own.id).order_by(Target.c.name)
        ).all()
        return [_read(r) for r in rows]


def unshare(rt: Runtime, *, user: User, project: str, dataset: str, target: str) -> None:
    with rt.sessions() as session:
        access = member_access(session, project=project, user=user)
        authz.require(access, Action.SHARE)
        own = _own_dataset(session, access, dataset)
        found = session.execute(
            select(DatasetShare.id, DatasetShare.target_project_id)
            .join(Target, Target.c.id == DatasetShare.target_project_id)
            .where(DatasetShare.dataset_id == own.id, Target.c.name == target)
        ).first()
        share = None
        if found is not None:
            # the reads above fixed MariaDB's snapshot; what decides below is read with
            # locks (the dataset, the share loaded fresh), so it is the latest committed
            project_service.lock(session, access.project_id)
            project_service.lock(session, found.target_project_id)
            if _lock_dataset(session, own.id):
                share = session.scalar(
                    select(DatasetShare).where(DatasetShare.id == found.id).with_for_update()
                )
        if share is None:
            raise NotFound(f"'{dataset}' is not shared with '{target}'")
        end_dataset_share(rt, session, share)


def shared_with(rt: Runtime, *, user: User, project: str) -> list[ShareRead]:
    """Offers waiting for this project and shares it has accepted."""
    with rt.read_sessions() as session:
        access = member_access(session, project=project, user=user)
        rows = session.execute(
            _query()
            .where(DatasetShare.target_project_id == access.project_id)
            .order_by(Owner.c.name, Dataset.name)
        ).all()
        return [_read(r) for r in rows]


def _offer_for(session: Session, access: ProjectAccess, ref: str) -> DatasetShare:
    owner, sep, dataset = ref.partition(SHARED_SEPARATOR)
    if not sep or not owner or not dataset:
        raise BadRequest(f"address a shared dataset as <owner_project>{SHARED_SEPARATOR}<dataset>")
    share = session.scalar(
        select(DatasetShare)
        .join(Dataset, Dataset.id == DatasetShare.dataset_id)
        .join(Owner, Owner.c.id == Dataset.project_id)
        .where(
            Owner.c.name == owner,
            Dataset.name == dataset,
            DatasetShare.target_project_id == access.project_id,
        )
    )
    if share is None:
        raise NotFound(f"no offer of '{ref}' to project '{access.project}'")
    return share


def respond(rt: Runtime, *, user: User, project: str, ref: str, accept: bool) -> ShareRead | None:
    """Accept an offer (it becomes usable as `owner::dataset`) or reject it (it is removed;
    rejecting an accepted share ends it, and its storage grant, like an unshare).

    The rows are locked in the order deletions take them (owner project, target project,
    dataset, share) and read again under the locks: an accept racing the deletion of the
    dataset or of either project either completes before it (and the deletion then
    revokes the grant) or finds the share gone (404), never grants for a deleted share."""
    with rt.sessions() as session:
        access = member_access(session, project=project, user=user)
        authz.require(access, Action.SHARE)
        offered = _offer_for(session, access, ref)
        dataset = session.get(Dataset, offered.dataset_id)
        share = None
        if dataset is not None:
            project_service.lock(session, dataset.project_id)
            project_service.lock(session, access.project_id)
            if _lock_dataset(session, dataset.id):
                share = session.scalar(
                    select(DatasetShare)
                    .where(DatasetShare.id == offered.id)
                    .with_for_update()
                    .execution_options(populate_existing=True)
                )
        if share is None:
            raise NotFound(f"no offer of '{ref}' to project '{access.project}'")
        if share.status == ShareStatus.ACCEPTED and accept:
            raise Conflict(f"'{ref}' is already accepted")
        if not accept:
            end_dataset_share(rt, session, share)
            return None
        # a plain read (the snapshot from before the locks), but only of names, which never
        # change, of rows the snapshot holds (found above); status and permission come from
        # the locked share, read again with populate_existing
        row = session.execute(_query().where(DatasetShare.id == share.id)).one()
        share.status = ShareStatus.ACCEPTED
        session.flush()
        result, share_id = _read(row), share.id

        commit_change(
            rt,
            session,
            reason="accept share",
            projects=[dataset.project_id, access.project_id],
            undo=undo_accept(DatasetShare, share_id),
        )
        return result


def _lock_dataset(session: Session, dataset_id: int) -> bool:
    query = select(Dataset.id).where(Dataset.id == dataset_id).with_for_update(read=True)
    return session.scalar(query) is not None
