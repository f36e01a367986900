"""Membership use cases. Every project keeps at least one Data Owner.

Each write takes its project's lock shared first (projects.service.lock), as every writer
of a project's rows does, so a member change and the project's deletion are ordered: the
change commits before the deletion reads the members (whose grants it then removes), or
it finds the project gone and answers 404 with nothing done."""

from __future__ import annotations

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.orm import Session

from hopsworks_api.authz import Action, ProjectAccess
from hopsworks_api.db.busy import busy_on_lock_conflict
from hopsworks_api.db.rows import copy_of
from hopsworks_api.db.unique import flush_unique
from hopsworks_api.errors import Conflict, NotFound
from hopsworks_api.identity import Role, project_user
from hopsworks_api.members.models import MemberAdd, MemberRead, Membership, MemberUpdate
from hopsworks_api.pki import service as pki_service
from hopsworks_api.projects import service as project_service
from hopsworks_api.provisioning.apply import commit_change
from hopsworks_api.runtime import Runtime
from hopsworks_api.users import service as user_service
from hopsworks_api.users.models import User


def _read(project: str, membership: Membership, member: User) -> MemberRead:
    return MemberRead(
        email=member.email,
        role=Role(membership.role),
        identity=project_user(project, member.username),
        added_at=membership.created_at,
    )


def _membership(session: Session, access: ProjectAccess, email: str) -> tuple[Membership, User]:
    row = session.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.project_id == access.project_id, User.email == email.lower())
        .with_for_update()
    ).first()
    if row is None:
        raise NotFound(f"'{email}' is not a member of project '{access.project}'")
    return row[0], row[1]


def _key(membership: Membership) -> tuple[ColumnElement[bool], ...]:
    return (
        Membership.project_id == membership.project_id,
        Membership.user_id == membership.user_id,
    )


def _resolve(rt: Runtime, *, project: str, user: User, action: Action) -> int:
    """The project's id, read (and the caller authorized) before the write transaction."""
    with rt.read_sessions() as session:
        return project_service.authorize(
            session, project=project, user=user, action=action
        ).project_id


def _locked_access(
    session: Session, *, project_id: int, project: str, user: User, action: Action
) -> ProjectAccess:
    return project_service.lock_and_authorize(
        session, project_id=project_id, project=project, user=user, action=action
    )


def _ensure_another_owner(session: Session, access: ProjectAccess, leaving: Membership) -> None:
    """Lock the owner rows so two owners cannot demote each other at the same time."""
    if leaving.role != Role.DATA_OWNER:
        return
    owners = session.scalar(
        select(func.count()).select_from(
            select(Membership.user_id)
            .where(Membership.project_id == access.project_id, Membership.role == Role.DATA_OWNER)
            .with_for_update()
            .subquery()
        )
    )
    if (owners or 0) <= 1:
        raise Conflict(f"project '{access.project}' must keep at least one data owner")


def list_members(rt: Runtime, *, user: User, project: str) -> list[MemberRead]:
    with rt.read_sessions() as session:
        access = project_service.authorize(
            session, project=project, user=user, action=Action.VIEW_PROJECT
        )
        rows = session.execute(
            select(Membership, User)
            .join(User, User.id == Membership.user_id)
            .where(Membership.project_id == access.project_id)
            .order_by(User.email)
        ).all()
        return [_read(access.project, m, u) for m, u in rows]


def add(rt: Runtime, *, user: User, project: str, data: MemberAdd) -> MemberRead:
    """The member's certificate is made before the write transaction, recorded inside it."""
    with rt.read_sessions() as session:
        project_id = project_service.authorize(
            session, project=project, user=user, action=Action.MANAGE_MEMBERS
        ).project_id
        member = user_service.get_by_email(session, data.email)
        if member is None:
            raise NotFound(f"no account with email '{data.email}'")
    certificate = pki_service.prepare_project_user(rt, project=project, user=member)
    with busy_on_lock_conflict("adding the member"), rt.sessions() as session:
        access = _locked_access(
            session, project_id=project_id, project=project, user=user, action=Action.MANAGE_MEMBERS
        )
        # after the project's lock, as an account deletion takes them: the account may have
        # been deleted since it was looked up (its deletion then waits for this one)
        if not session.scalar(
            select(User.id).where(User.id == member.id).with_for_update(read=True)
        ):
            raise NotFound(f"no account with email '{data.email}'")
        membership = Membership(project_id=access.project_id, user_id=member.id, role=data.role)
        session.add(membership)
        flush_unique(session, f"'{member.email}' is already a member of '{project}'")
        pki_service.record_project_user(session, certificate, project_id=access.project_id)
        result, key = _read(access.project, membership, member), _key(membership)

        def undo(session: Session) -> None:
            # the certificate is revoked when the change finishes (it is a non-member's)
            session.execute(delete(Membership).where(*key))

        commit_change(rt, session, reason="add member", projects=[access.project_id], undo=undo)
        return result


def change_role(
    rt: Runtime, *, user: User, project: str, email: str, data: MemberUpdate
) -> MemberRead:
    action = Action.MANAGE_MEMBERS
    project_id = _resolve(rt, project=project, user=user, action=action)
    with busy_on_lock_conflict("changing the role"), rt.sessions() as session:
        access = _locked_access(
            session, project_id=project_id, project=project, user=user, action=action
        )
        membership, member = _membership(session, access, email)
        old = Role(membership.role)
        if data.role != old:
            _ensure_another_owner(session, access, membership)
            membership.role = data.role
        result, key = _read(access.project, membership, member), _key(membership)
        if data.role == old:
            session.commit()
            return result

        def undo(session: Session) -> None:
            session.execute(update(Membership).where(*key).values(role=old))

        commit_change(rt, session, reason="change role", projects=[access.project_id], undo=undo)
        return result


def remove(rt: Runtime, *, user: User, project: str, email: str) -> None:
    """Owners remove anyone; a data scientist may only leave."""
    leaving = email.lower() == user.email
    action = Action.LEAVE_PROJECT if leaving else Action.MANAGE_MEMBERS
    project_id = _resolve(rt, project=project, user=user, action=action)
    with busy_on_lock_conflict("removing the member"), rt.sessions() as session:
        access = _locked_access(
            session, project_id=project_id, project=project, user=user, action=action
        )
        membership, _member = _membership(session, access, email)
        _ensure_another_owner(session, access, membership)
        copy = copy_of(membership)
        session.delete(membership)
        # the certificate is revoked when the change finishes, once no system grants it
        commit_change(
            rt, session, reason="remove member", projects=[access.project_id], undo=copy.restore
        )
