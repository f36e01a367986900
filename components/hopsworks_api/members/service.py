"""Membership use cases. Every project keeps at least one Data Owner."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hopsworks_api.authz import Action, ProjectAccess, Role, project_user
from hopsworks_api.backends import steps as backend_steps
from hopsworks_api.db.unique import flush_unique
from hopsworks_api.errors import Conflict, NotFound
from hopsworks_api.members.models import MemberAdd, MemberRead, Membership, MemberUpdate
from hopsworks_api.pki import service as pki_service
from hopsworks_api.projects import service as project_service
from hopsworks_api.runtime import Runtime
from hopsworks_api.saga import Saga
from hopsworks_api.sharing.incoming import incoming
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
        project_service.authorize(session, project=project, user=user, action=Action.MANAGE_MEMBERS)
        member = user_service.get_by_email(session, data.email)
        if member is None:
            raise NotFound(f"no account with email '{data.email}'")
    certificate = pki_service.prepare_project_user(rt, project=project, user=member)
    with rt.sessions() as session:
        access = project_service.authorize(
            session, project=project, user=user, action=Action.MANAGE_MEMBERS
        )
        membership = Membership(project_id=access.project_id, user_id=member.id, role=data.role)
        session.add(membership)
        flush_unique(session, f"'{member.email}' is already a member of '{project}'")
        pki_service.record_project_user(session, certificate, project_id=access.project_id)
        with Saga("add member") as saga:
            backend_steps.add_member(
                saga,
                rt,
                project=access.project,
                username=member.username,
                role=data.role,
                certificate=certificate,
                incoming=incoming(session, access.project_id),
            )
            session.commit()
        return _read(access.project, membership, member)


def change_role(
    rt: Runtime, *, user: User, project: str, email: str, data: MemberUpdate
) -> MemberRead:
    with rt.sessions() as session:
        access = project_service.authorize(
            session, project=project, user=user, action=Action.MANAGE_MEMBERS
        )
        membership, member = _membership(session, access, email)
        old = Role(membership.role)
        if data.role != old:
            _ensure_another_owner(session, access, membership)
            membership.role = data.role
        with Saga("change role") as saga:
            if data.role != old:
                backend_steps.change_role(
                    saga,
                    rt,
                    project=access.project,
                    username=member.username,
                    old=old,
                    new=data.role,
                )
            session.commit()
        return _read(access.project, membership, member)


def remove(rt: Runtime, *, user: User, project: str, email: str) -> None:
    """Owners remove anyone; a data scientist may only leave."""
    leaving = email.lower() == user.email
    with rt.sessions() as session:
        action = Action.LEAVE_PROJECT if leaving else Action.MANAGE_MEMBERS
        access = project_service.authorize(session, project=project, user=user, action=action)
        membership, member = _membership(session, access, email)
        _ensure_another_owner(session, access, membership)
        session.delete(membership)
        issuers = pki_service.revoke(
            session, reason="member removed", project_id=access.project_id, user_id=member.id
        )
        with Saga("remove member") as saga:
            backend_steps.remove_member(
                saga,
                rt,
                project=access.project,
                username=member.username,
                role=Role(membership.role),
                incoming=incoming(session, access.project_id),
            )
            session.commit()
    pki_service.publish_crls(rt, issuers)
