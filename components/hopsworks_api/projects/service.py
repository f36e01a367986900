"""Project use cases: each is one DB transaction plus the storage steps, as a saga."""

from __future__ import annotations

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from hopsworks_api import authz
from hopsworks_api.authz import Action, ProjectAccess
from hopsworks_api.backends import steps as backend_steps
from hopsworks_api.datasets.models import DEFAULT_DATASETS, Dataset, UploadReservation
from hopsworks_api.db.busy import busy_on_lock_conflict
from hopsworks_api.db.unique import flush_unique
from hopsworks_api.errors import NotFound
from hopsworks_api.identity import Role
from hopsworks_api.members.models import Membership
from hopsworks_api.pki import service as pki_service
from hopsworks_api.projects.models import Project, ProjectCreate, ProjectRead, ProjectUpdate
from hopsworks_api.quotas.models import ProjectQuota
from hopsworks_api.runtime import Runtime
from hopsworks_api.saga import Saga, commit_deletion
from hopsworks_api.schemas import Page, PageParams
from hopsworks_api.sharing.incoming import incoming
from hopsworks_api.users.models import User


def access(session: Session, *, project: str, user: User) -> ProjectAccess:
    """Resolve who the caller is in `project`; outsiders look the same as a missing project."""
    row = session.execute(
        select(Project.id, Project.name, Membership.role)
        .outerjoin(
            Membership, and_(Membership.project_id == Project.id, Membership.user_id == user.id)
        )
        .where(Project.name == project)
    ).first()
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


def authorize(session: Session, *, project: str, user: User, action: Action) -> ProjectAccess:
    resolved = access(session, project=project, user=user)
    authz.require(resolved, action)
    return resolved


def lock(session: Session, project_id: int, *, exclusive: bool = False) -> bool:
    """Lock the project's row for the rest of the transaction; False if it is gone.

    The ordering rule that keeps deletion from racing work in flight: every transaction
    that writes rows of a project (upload reservations, shares, topics) first takes this
    lock shared, and deleting the project takes it exclusively first. So a deletion waits
    for work already past this point to commit, and work arriving later finds the project
    gone. Taking it first also keeps the lock order the same everywhere (no deadlocks with
    the deletion's cascades). A locking read sees the latest committed row, not the
    transaction's snapshot. SQLite needs none of this: its writers are serialised by
    `BEGIN IMMEDIATE` (db/engine.py)."""
    query = select(Project.id).where(Project.id == project_id)
    return session.scalar(query.with_for_update(read=not exclusive)) is not None


def _read(project: Project, role: str | None) -> ProjectRead:
    return ProjectRead.model_validate(project).model_copy(update={"role": role})


def create(rt: Runtime, *, user: User, data: ProjectCreate) -> ProjectRead:
    """Create the project with its owner, default datasets and quota, and their storage."""
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
        with Saga("create project") as saga:
            saga.step(
                "storage",
                lambda: rt.backends.storage.create_project(data.name),
                lambda: rt.backends.storage.delete_project(data.name),
            )
            for name in DEFAULT_DATASETS:
                rt.backends.storage.create_dataset(data.name, name)
            backend_steps.create_project(
                saga,
                rt,
                project=data.name,
                owner=user.username,
                certificate=owner_cert,
                gpus=rt.settings.default_project_gpus,
            )
            session.commit()
        return _read(project, Role.DATA_OWNER)


def list_projects(rt: Runtime, *, user: User, page: PageParams) -> Page[ProjectRead]:
    """Members see their projects; platform admins see every project."""
    with rt.read_sessions() as session:
        role = Membership.role
        membership = and_(Membership.project_id == Project.id, Membership.user_id == user.id)
        query = select(Project, role)
        if user.is_admin:
            query = query.outerjoin(Membership, membership)
        else:
            query = query.join(Membership, membership)
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.execute(
            query.order_by(Project.name).limit(page.limit).offset(page.offset)
        ).all()
        items = [_read(project, role) for project, role in rows]
        return Page(items=items, total=total, limit=page.limit, offset=page.offset)


def get(rt: Runtime, *, user: User, project: str) -> ProjectRead:
    with rt.read_sessions() as session:
        resolved = authorize(session, project=project, user=user, action=Action.VIEW_PROJECT)
        row = session.get(Project, resolved.project_id)
        assert row is not None
        return _read(row, resolved.role)


def update(rt: Runtime, *, user: User, project: str, data: ProjectUpdate) -> ProjectRead:
    with rt.sessions() as session:
        resolved = authorize(session, project=project, user=user, action=Action.MANAGE_DATASETS)
        row = session.get(Project, resolved.project_id)
        assert row is not None
        if data.description is not None:
            row.description = data.description
        session.commit()
        return _read(row, resolved.role)


def delete(rt: Runtime, *, user: User, project: str) -> None:
    """Remove the project and everything it owns; shares into it go with it (FK cascades);
    every certificate issued for it is revoked in the same transaction.

    The exclusive lock is the write transaction's first statement: MariaDB's snapshot starts
    at a transaction's first plain read, so every read after the lock (members, their
    certificates, uploads) also sees the work that committed while this waited for it."""
    with rt.read_sessions() as session:
        found = authorize(session, project=project, user=user, action=Action.DELETE_PROJECT)
    # two projects sharing with each other and deleted at once lock each other's rows (the
    # incoming shares) and cascades: MariaDB rolls one back, which is told to retry (503)
    with busy_on_lock_conflict("deleting the project"), rt.sessions() as session:
        if not lock(session, found.project_id, exclusive=True):
            raise NotFound(f"project '{project}' not found")
        resolved = authorize(session, project=project, user=user, action=Action.DELETE_PROJECT)
        uploads = session.execute(
            select(Dataset.name, UploadReservation.token)
            .join(Dataset, Dataset.id == UploadReservation.dataset_id)
            .where(UploadReservation.project_id == resolved.project_id)
        ).all()
        certificates = pki_service.valid_by_username(session, project_id=resolved.project_id)
        issuers = pki_service.revoke(
            session, reason="project deleted", project_id=resolved.project_id
        )
        members = [
            (username, Role(role))
            for username, role in session.execute(
                select(User.username, Membership.role)
                .join(Membership, Membership.user_id == User.id)
                .where(Membership.project_id == resolved.project_id)
            )
        ]
        quota = session.get(ProjectQuota, resolved.project_id)
        shares = incoming(session, resolved.project_id, lock=True)
        row = session.get(Project, resolved.project_id)
        session.delete(row)
        session.flush()
        with Saga("delete project") as saga:
            backend_steps.delete_project(
                saga,
                rt,
                project=project,
                members=members,
                certificates=certificates,
                gpus=quota.gpus_limit if quota else None,
                incoming=shares,
            )
            trash = rt.backends.storage.trash_project(project)
            commit_deletion(session, rt.backends.storage, trash)
    # uploads in flight fail at publish (their reservations went with the project); the
    # temporary files of any whose process is gone are removed here
    for dataset, token in uploads:
        rt.backends.storage.discard_upload(project, dataset, token)
    pki_service.publish_crls(rt, issuers)
