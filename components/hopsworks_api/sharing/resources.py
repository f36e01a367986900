"""Sharing a Kafka topic or a project's Hive database with another project, the same way
datasets are shared: the owner offers, the target's data owner accepts or rejects, either
side can end it.

Accepting grants every member of the target project access in the owning system (Kafka
ACLs for `User:<target>__<member>`, Hive SELECT/INSERT for `<target>__<member>`) through
provisioning, which derives the grants from the accepted shares and the target's members,
so members who join later get them and members who leave lose them.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from hopsworks_api import authz
from hopsworks_api.authz import Action, ProjectAccess
from hopsworks_api.datasets.service import SHARED_SEPARATOR, member_access
from hopsworks_api.db.rows import copy_of
from hopsworks_api.db.unique import commit_unique
from hopsworks_api.errors import BadRequest, Conflict, NotFound
from hopsworks_api.members.models import Membership
from hopsworks_api.projects import service as project_service
from hopsworks_api.projects.models import Project
from hopsworks_api.provisioning.apply import commit_change
from hopsworks_api.runtime import Runtime
from hopsworks_api.sharing.ending import undo_accept
from hopsworks_api.sharing.models import (
    Permission,
    ResourceShare,
    ResourceShareRead,
    ShareCreate,
    ShareKind,
    ShareStatus,
)
from hopsworks_api.topics.models import Topic
from hopsworks_api.users.models import User

Owner = Project.__table__.alias("owner")
Target = Project.__table__.alias("target")
HIVE = ""  # the `resource` of a Hive share: a project has one database


def _label(kind: ShareKind, resource: str) -> str:
    return f"topic '{resource}'" if kind == ShareKind.TOPIC else "the Hive database"


def _query():  # type: ignore[no-untyped-def]
    return (
        select(ResourceShare, Owner.c.name, Target.c.name)
        .join(Owner, Owner.c.id == ResourceShare.owner_project_id)
        .join(Target, Target.c.id == ResourceShare.target_project_id)
    )


def _read(row) -> ResourceShareRead:  # type: ignore[no-untyped-def]
    share, owner, target = row
    return ResourceShareRead(
        kind=ShareKind(share.kind),
        owner_project=owner,
        resource=share.resource,
        project=target,
        permission=Permission(share.permission),
        status=ShareStatus(share.status),
        created_at=share.created_at,
    )


def _usernames(session: Session, project_id: int) -> list[str]:
    """The members to grant or revoke for, read with shared locks (called after the
    project locks): a plain read would return the transaction's MariaDB snapshot, taken at
    the authorization before those locks, and miss a member added since."""
    return sorted(
        session.scalars(
            select(User.username)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.project_id == project_id)
            .with_for_update(read=True)
        )
    )


def _owned(session: Session, access: ProjectAccess, kind: ShareKind, resource: str) -> int | None:
    """The topic's id (None for Hive) after checking the resource exists in the project."""
    if kind == ShareKind.HIVE:
        return None
    topic = session.scalar(
        select(Topic.id).where(Topic.project_id == access.project_id, Topic.name == resource)
    )
    if topic is None:
        raise NotFound(f"topic '{resource}' not found in project '{access.project}'")
    return topic


def _locked(session: Session, found: ResourceShare) -> ResourceShare | None:
    """The share again, under locks taken in the order deletions take them (owner project,
    target project, topic, share); None if a deletion committed first. An accept racing
    the deletion of the topic or either project thus completes before it (and the deletion
    then revokes what it granted) or finds nothing to grant. The callers' reads before this
    (plain) fix MariaDB's snapshot early; every read after it is a locking read (the share
    with populate_existing, the members in `_usernames`), so none of them is stale."""
    project_service.lock(session, found.owner_project_id)
    project_service.lock(session, found.target_project_id)
    if found.topic_id is not None:
        topic = select(Topic.id).where(Topic.id == found.topic_id).with_for_update(read=True)
        if session.scalar(topic) is None:
            return None
    query = select(ResourceShare).where(ResourceShare.id == found.id).with_for_update()
    return session.scalar(query.execution_options(populate_existing=True))


def offer(
    rt: Runtime,
    *,
    user: User,
    project: str,
    kind: ShareKind,
    resource: str,
    data: ShareCreate,
) -> ResourceShareRead:
    """No project lock: an offer grants nothing, and the INSERT's foreign-key checks read
    the latest owner, topic and target rows, so a racing deletion either comes after it
    (and cascades it away) or makes it fail."""
    with rt.sessions() as session:
        access = member_access(session, project=project, user=user)
        authz.require(access, Action.SHARE)
        topic_id = _owned(session, access, kind, resource)
        target = session.scalar(select(Project).where(Project.name == data.project))
        if target is None:
            raise NotFound(f"project '{data.project}' not found")
        if target.id == access.project_id:
            raise BadRequest(f"{_label(kind, resource)} cannot be shared with its own project")
        share = ResourceShare(
            kind=kind,
            owner_project_id=access.project_id,
            topic_id=topic_id,
            resource=resource,
            target_project_id=target.id,
            permission=data.permission,
            status=ShareStatus.PENDING,
        )
        session.add(share)
        commit_unique(session, f"{_label(kind, resource)} is already shared with '{data.project}'")
        return _read((share, project, target.name))


def list_shares(
    rt: Runtime, *, user: User, project: str, kind: ShareKind, resource: str
) -> list[ResourceShareRead]:
    with rt.read_sessions() as session:
        access = member_access(session, project=project, user=user)
        _owned(session, access, kind, resource)
        rows = session.execute(
            _query()
            .where(
                ResourceShare.kind == kind,
                ResourceShare.owner_project_id == access.project_id,
                ResourceShare.resource == resource,
            )
            .order_by(Target.c.name)
        ).all()
        return [_read(r) for r in rows]


def unshare(
    rt: Runtime, *, user: User, project: str, kind: ShareKind, resource: str, target: str
) -> None:
    with rt.sessions() as session:
        access = member_access(session, project=project, user=user)
        authz.require(access, Action.SHARE)
        _owned(session, access, kind, resource)
        row = session.execute(
            _query().where(
                ResourceShare.kind == kind,
                ResourceShare.owner_project_id == access.project_id,
                ResourceShare.resource == resource,
                Target.c.name == target,
            )
        ).first()
        share = _locked(session, row[0]) if row is not None else None
        if share is None:
            raise NotFound(f"{_label(kind, resource)} is not shared with '{target}'")
        _end(rt, session, share, f"unshare {kind.value}")


def shared_with(
    rt: Runtime, *, user: User, project: str, kind: ShareKind
) -> list[ResourceShareRead]:
    with rt.read_sessions() as session:
        access = member_access(session, project=project, user=user)
        rows = session.execute(
            _query()
            .where(ResourceShare.kind == kind, ResourceShare.target_project_id == access.project_id)
            .order_by(Owner.c.name, ResourceShare.resource)
        ).all()
        return [_read(r) for r in rows]


def _parse_ref(kind: ShareKind, ref: str) -> tuple[str, str]:
    if kind == ShareKind.HIVE:
        return ref, HIVE
    owner, sep, topic = ref.partition(SHARED_SEPARATOR)
    if not sep or not owner or not topic:
        raise BadRequest(f"address a shared topic as <owner_project>{SHARED_SEPARATOR}<topic>")
    return owner, topic


def respond(
    rt: Runtime, *, user: User, project: str, kind: ShareKind, ref: str, accept: bool
) -> ResourceShareRead | None:
    owner, resource = _parse_ref(kind, ref)
    with rt.sessions() as session:
        access = member_access(session, project=project, user=user)
        authz.require(access, Action.SHARE)
        row = session.execute(
            _query().where(
                ResourceShare.kind == kind,
                Owner.c.name == owner,
                ResourceShare.resource == resource,
                ResourceShare.target_project_id == access.project_id,
            )
        ).first()
        share = _locked(session, row[0]) if row is not None else None
        if share is None:
            raise NotFound(f"no offer of {_label(kind, resource)} of '{owner}' to '{project}'")
        if not accept:
            _end(rt, session, share, f"reject {kind.value}")
            return None
        if share.status == ShareStatus.ACCEPTED:
            raise Conflict(f"{_label(kind, resource)} of '{owner}' is already accepted")
        share.status = ShareStatus.ACCEPTED
        session.flush()
        result, share_id = _read((share, owner, access.project)), share.id

        commit_change(
            rt,
            session,
            reason=f"accept {kind.value}",
            projects=[share.owner_project_id, share.target_project_id],
            undo=undo_accept(ResourceShare, share_id),
        )
        return result


def _end(rt: Runtime, session: Session, share: ResourceShare, reason: str) -> None:
    """Delete the (locked) share and commit; provisioning revokes what it granted, or the
    row comes back if a system refuses."""
    copy = copy_of(share)
    projects = [share.owner_project_id, share.target_project_id]
    session.delete(share)
    session.flush()
    commit_change(rt, session, reason=reason, projects=projects, undo=copy.restore)
