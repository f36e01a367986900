"""Project use cases: the DB work, then provisioning applies it to every system."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.orm import Session

from hopsworks_api import authz
from hopsworks_api.authz import Action, ProjectAccess
from hopsworks_api.datasets.models import DEFAULT_DATASETS, Dataset
from hopsworks_api.db.busy import busy_on_lock_conflict
from hopsworks_api.db.driver_reads import DriverSelect, Reads, read_cursor, reads_of
from hopsworks_api.db.unique import flush_unique
from hopsworks_api.errors import NotFound
from hopsworks_api.identity import Role
from hopsworks_api.members.models import Membership
from hopsworks_api.pki import service as pki_service
from hopsworks_api.projects.models import (
    Project,
    ProjectCreate,
    ProjectRead,
    ProjectStatus,
    ProjectUpdate,
)
from hopsworks_api.provisioning.apply import commit_change
from hopsworks_api.quotas.models import ProjectQuota
from hopsworks_api.runtime import Runtime
from hopsworks_api.schemas import Page, PageParams
from hopsworks_api.users.models import User


def _access_select(*project_columns: sa.ColumnElement) -> sa.Select:
    return (
        select(*project_columns, Membership.role)
        .outerjoin(
            Membership,
            and_(Membership.project_id == Project.id, Membership.user_id == bindparam("user_id")),
        )
        .where(Project.name == bindparam("project"), Project.status == ProjectStatus.ACTIVE)
    )


# Every request about a project asks this; composing the statement cost several times
# more than running it, so it is built once with bound parameters (docs/performance.md).
_ACCESS = DriverSelect(_access_select(Project.id, Project.name))
# a read-only `get` answers from this one row, on the driver's cursor (db/driver_reads.py)
_PROJECT_WITH_ACCESS = DriverSelect(_access_select(*Project.__table__.columns))


def _resolved(row: sa.Row | None, *, project: str, user: User) -> ProjectAccess:
    """Who the caller is in the project of `row`; outsiders look the same as a missing
    project."""
    if row is None:
        raise NotFound(f"project '{project}' not found")
    return ProjectAccess(
        project_id=row.id,
        project=row.name,
        user_id=user.id,
        email=user.email,
        username=user.username,
        role=Role(row.role) if row.role else None,
        is_admin=user.is_admin,
    )


def access(source: Session | Reads, *, project: str, user: User) -> ProjectAccess:
    row = reads_of(source).first(_ACCESS, user_id=user.id, project=project)
    return _resolved(row, project=project, user=user)


def authorize(
    source: Session | Reads, *, project: str, user: User, action: Action
) -> ProjectAccess:
    resolved = access(source, project=project, user=user)
    authz.require(resolved, action)
    return resolved


def lock(
    session: Session, project_id: int, *, exclusive: bool = False, deleting_too: bool = False
) -> bool:
    """Lock the project's row for the rest of the transaction; False if it is gone.

    The ordering rule that keeps deletion from racing work in flight: every transaction
    that writes rows of a project (upload reservations, shares, topics) first takes this
    lock shared, and deleting the project takes it exclusively first. So a deletion waits
    for work already past this point to commit, and work arriving later finds the project
    gone. Taking it first also keeps the lock order the same everywhere (no deadlocks with
    the deletion's cascades). A locking read sees the latest committed row, not the
    transaction's snapshot. SQLite needs none of this: its writers are serialised by
    `BEGIN IMMEDIATE` (db/engine.py). A project being deleted counts as gone, unless
    `deleting_too` (an account deletion, which removes its memberships there as well)."""
    query = select(Project.id).where(Project.id == project_id)
    if not deleting_too:
        query = query.where(Project.status == ProjectStatus.ACTIVE)
    return session.scalar(query.with_for_update(read=not exclusive)) is not None


def lock_and_authorize(
    session: Session, *, project_id: int, project: str, user: User, action: Action
) -> ProjectAccess:
    """Take the project's shared lock by its id as the write transaction's first statement,
    then authorize: 404 if it was deleted meanwhile, so nothing is made for a project that is
    gone. Locking first also means every plain read after it (MariaDB's snapshot starts at
    the first) sees what committed before the lock was granted, e.g. shares accepted since."""
    if not lock(session, project_id):
        raise NotFound(f"project '{project}' not found")
    access = authorize(session, project=project, user=user, action=action)
    if access.project_id != project_id:  # cannot be while its row is locked; be sure
        raise NotFound(f"project '{project}' not found")
    return access


def locked_access(
    rt: Runtime, session: Session, *, user: User, project: str, action: Action
) -> ProjectAccess:
    """Authorize in a read-only transaction (to learn the id, and refuse early), then
    `lock_and_authorize` in the write transaction `session`."""
    with rt.read_sessions() as read:
        project_id = authorize(read, project=project, user=user, action=action).project_id
    return lock_and_authorize(
        session, project_id=project_id, project=project, user=user, action=action
    )


def _read(project: Project | sa.Row, role: str | None, *, is_admin: bool) -> ProjectRead:
    rights = authz.allowed_actions(Role(role) if role else None, is_admin=is_admin)
    return ProjectRead.model_validate(project).model_copy(update={"role": role, "allowed": rights})


def create(rt: Runtime, *, user: User, data: ProjectCreate) -> ProjectRead:
    """Create the project with its owner, default datasets and quota; provisioning then
    creates it in every system, or the rows go again and the API names the failed system."""
    owner_cert = pki_service.prepare_project_user(rt, project=data.name, user=user)
    with rt.sessions() as session:
        project = Project(name=data.name, description=data.description, created_by=user.id)
        session.add(project)
        flush_unique(session, f"project '{data.name}' already exists")
        session.add(Membership(project_id=project.id, user_id=user.id, role=Role.DATA_OWNER))
        session.add_all(Dataset(project_id=project.id, name=name) for name in DEFAULT_DATASETS)
        session.add(
            ProjectQuota(
                project_id=project.id,
                storage_bytes_limit=rt.settings.default_storage_bytes,
                storage_files_limit=rt.settings.default_storage_files,
                gpus_limit=rt.settings.default_project_gpus,
            )
        )
        session.flush()
        pki_service.record_project_user(session, owner_cert, project_id=project.id)
        result, project_id = _read(project, Role.DATA_OWNER, is_admin=user.is_admin), project.id

        def undo(session: Session) -> None:
            session.execute(sa.delete(Project).where(Project.id == project_id))

        commit_change(rt, session, reason="create project", projects=[project_id], undo=undo)
        return result


def list_projects(rt: Runtime, *, user: User, page: PageParams) -> Page[ProjectRead]:
    """Members see their projects; platform admins see every project."""
    with rt.read_sessions() as session:
        role = Membership.role
        membership = and_(Membership.project_id == Project.id, Membership.user_id == user.id)
        query = select(Project, role).where(Project.status == ProjectStatus.ACTIVE)
        if user.is_admin:
            query = query.outerjoin(Membership, membership)
        else:
            query = query.join(Membership, membership)
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.execute(
            query.order_by(Project.name).limit(page.limit).offset(page.offset)
        ).all()
        items = [_read(project, role, is_admin=user.is_admin) for project, role in rows]
        return Page(items=items, total=total, limit=page.limit, offset=page.offset)


def get(rt: Runtime, *, user: User, project: str) -> ProjectRead:
    with read_cursor(rt.engine) as reads:
        row = reads.first(_PROJECT_WITH_ACCESS, user_id=user.id, project=project)
    resolved = _resolved(row, project=project, user=user)
    authz.require(resolved, Action.VIEW_PROJECT)
    return _read(row, resolved.role, is_admin=user.is_admin)


def update(rt: Runtime, *, user: User, project: str, data: ProjectUpdate) -> ProjectRead:
    with rt.sessions() as session:
        resolved = authorize(session, project=project, user=user, action=Action.MANAGE_DATASETS)
        row = session.get(Project, resolved.project_id)
        assert row is not None
        if data.description is not None:
            row.description = data.description
        session.commit()
        return _read(row, resolved.role, is_admin=user.is_admin)


def delete(rt: Runtime, *, user: User, project: str) -> None:
    """Mark the project as being deleted; provisioning tears it down in every system and
    then removes its rows (shares into it go by FK cascade) and revokes its certificates.
    If a system fails the project comes back as it was and the API names the system.

    The exclusive lock is the write transaction's first statement: work that wrote rows of
    the project committed before it, and work arriving later finds the project gone."""
    with rt.read_sessions() as session:
        found = authorize(session, project=project, user=user, action=Action.DELETE_PROJECT)
    with busy_on_lock_conflict("deleting the project"), rt.sessions() as session:
        if not lock(session, found.project_id, exclusive=True):
            raise NotFound(f"project '{project}' not found")
        resolved = authorize(session, project=project, user=user, action=Action.DELETE_PROJECT)
        row = session.get(Project, resolved.project_id)
        assert row is not None
        row.status = ProjectStatus.DELETING
        project_id = resolved.project_id

        def undo(session: Session) -> None:
            session.execute(
                sa.update(Project)
                .where(Project.id == project_id)
                .values(status=ProjectStatus.ACTIVE)
            )

        commit_change(rt, session, reason="delete project", projects=[project_id], undo=undo)
