"""What every project should be in every system, read from the metadata DB (the one truth).

A `World` is computed per change for the projects it touches (its *scope*) and per repair
for all of them; the systems' converge functions compare it with what each system holds.
Members and topic shares are read for the scope's projects, which include both ends of
every share: a project's expected ACLs depend on who is a member of the projects it shares
with.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

from hopsworks_api.backends.kafka.base import TopicShare
from hopsworks_api.datasets.models import Dataset
from hopsworks_api.identity import Role
from hopsworks_api.members.models import Membership
from hopsworks_api.pki import service as pki_service
from hopsworks_api.pki.models import Certificate
from hopsworks_api.projects.models import Project, ProjectStatus
from hopsworks_api.quotas.models import ProjectQuota
from hopsworks_api.sharing.models import (
    DatasetShare,
    Permission,
    ResourceShare,
    ShareKind,
    ShareStatus,
)
from hopsworks_api.topics.models import Topic
from hopsworks_api.users.models import User


@dataclass
class ProjectState:
    """One active project as the DB says it should exist everywhere."""

    name: str
    datasets: list[str]
    members: dict[str, Role]
    certificates: dict[str, Certificate]  # the newest valid one per member
    gpus: int | None
    topics: dict[str, tuple[int, int]] = field(default_factory=dict)  # partitions, replication
    dataset_shares: dict[str, dict[str, bool]] = field(default_factory=dict)  # accepted
    topic_shares: list[TopicShare] = field(default_factory=list)  # accepted, outgoing
    hive_shares: dict[str, bool] = field(default_factory=dict)  # target -> writable
    hive_read_only: bool = False  # over its Hive size quota (quotas.accounting)
    compute_stopped: bool = False  # PREPAID credits spent (quotas.accounting)


@dataclass
class World:
    """The desired state of the projects in `scope` (None: every project, and anything a
    system holds for a project the DB does not know is stray). A name in scope but not in
    `want` is a project that must not exist: deleted, being deleted, or never committed.
    A change's scope holds both ends of every share of its projects (`related`), so the
    members and topic shares of the scope are all its grants depend on."""

    scope: frozenset[str] | None
    want: dict[str, ProjectState]
    members: dict[str, dict[str, Role]]  # active projects' members (of the scope)
    topic_shares: list[TopicShare]  # accepted topic shares between active projects (of it)

    def names(self, existing: Iterable[str] = ()) -> list[str]:
        """The project names to check in a system: the scope, or everything known."""
        if self.scope is not None:
            return sorted(self.scope)
        return sorted(set(self.want) | set(existing))

    @property
    def everything(self) -> bool:
        return self.scope is None


def load_world(session: Session, scope: Iterable[str] | None = None) -> World:
    scope_set = None if scope is None else frozenset(scope)
    active = Project.status == ProjectStatus.ACTIVE
    in_scope = (lambda column: column.in_(scope_set)) if scope_set is not None else None
    members_query = (
        select(Project.name, User.username, Membership.role)
        .join(Membership, Membership.project_id == Project.id)
        .join(User, User.id == Membership.user_id)
        .where(active)
    )
    if in_scope is not None:
        members_query = members_query.where(in_scope(Project.name))
    members: dict[str, dict[str, Role]] = {}
    for name, username, role in session.execute(members_query):
        members.setdefault(name, {})[username] = Role(role)
    query = select(Project.id, Project.name).where(active)
    if scope_set is not None:
        query = query.where(Project.name.in_(scope_set))
    want = {
        name: _project_state(session, project_id, name, members.get(name, {}))
        for project_id, name in session.execute(query).all()
    }
    owner, target = _OWNER, _TARGET
    shares_query = (
        select(owner.c.name, ResourceShare.resource, target.c.name, ResourceShare.permission)
        .join(owner, owner.c.id == ResourceShare.owner_project_id)
        .join(target, target.c.id == ResourceShare.target_project_id)
        .where(
            ResourceShare.kind == ShareKind.TOPIC,
            ResourceShare.status == ShareStatus.ACCEPTED,
            owner.c.status == ProjectStatus.ACTIVE,
            target.c.status == ProjectStatus.ACTIVE,
        )
    )
    if in_scope is not None:
        shares_query = shares_query.where(or_(in_scope(owner.c.name), in_scope(target.c.name)))
    topic_shares = [
        TopicShare(o, resource, t, permission == Permission.EDITABLE)
        for o, resource, t, permission in session.execute(shares_query)
    ]
    return World(scope=scope_set, want=want, members=members, topic_shares=topic_shares)


def related(session: Session, project_id: int) -> set[str]:
    """The projects whose grants a change of this project can touch: both ends of every
    share it is part of (datasets and resources, in any state)."""
    names: set[str] = set()
    owners = (
        select(Dataset.project_id)
        .join(DatasetShare, DatasetShare.dataset_id == Dataset.id)
        .where(DatasetShare.target_project_id == project_id)
    )
    targets = (
        select(DatasetShare.target_project_id)
        .join(Dataset, Dataset.id == DatasetShare.dataset_id)
        .where(Dataset.project_id == project_id)
    )
    resource_ends = select(ResourceShare.owner_project_id, ResourceShare.target_project_id).where(
        or_(
            ResourceShare.owner_project_id == project_id,
            ResourceShare.target_project_id == project_id,
        )
    )
    ids = set(session.scalars(owners)) | set(session.scalars(targets))
    for a, b in session.execute(resource_ends):
        ids |= {a, b}
    ids.add(project_id)
    names |= set(session.scalars(select(Project.name).where(Project.id.in_(ids))))
    return names


# The per-project statements, built once: building one (and its cache key) cost more than
# running it, and a converge loads every project of its scope (docs/performance.md).
_OWNER, _TARGET = Project.__table__.alias("owner"), Project.__table__.alias("target")
_PROJECT_ID = bindparam("project_id")
_DATASETS = select(Dataset.name).where(Dataset.project_id == _PROJECT_ID)
_TOPICS = select(Topic).where(Topic.project_id == _PROJECT_ID)
_DATASET_SHARES = (
    select(Dataset.name, Project.name, DatasetShare.permission)
    .join(DatasetShare, DatasetShare.dataset_id == Dataset.id)
    .join(Project, Project.id == DatasetShare.target_project_id)
    .where(
        Dataset.project_id == _PROJECT_ID,
        DatasetShare.status == ShareStatus.ACCEPTED,
        Project.status == ProjectStatus.ACTIVE,
    )
)
_RESOURCE_SHARES = (
    select(ResourceShare.kind, ResourceShare.resource, Project.name, ResourceShare.permission)
    .join(Project, Project.id == ResourceShare.target_project_id)
    .where(
        ResourceShare.owner_project_id == _PROJECT_ID,
        ResourceShare.status == ShareStatus.ACCEPTED,
        Project.status == ProjectStatus.ACTIVE,
    )
)


def _project_state(
    session: Session, project_id: int, name: str, members: dict[str, Role]
) -> ProjectState:
    quota = session.get(ProjectQuota, project_id)
    certificates = pki_service.valid_by_username(session, project_id=project_id)
    params = {"project_id": project_id}
    datasets = list(session.scalars(_DATASETS, params))
    state = ProjectState(name, datasets, dict(members), certificates, None)
    if quota is not None:
        state.gpus = quota.gpus_limit
        state.hive_read_only = quota.hive_writes_blocked
        state.compute_stopped = quota.compute_stopped
    _add_shares(session, project_id, state)
    return state


def _add_shares(session: Session, project_id: int, state: ProjectState) -> None:
    editable = Permission.EDITABLE
    params = {"project_id": project_id}
    state.topics = {t.name: (t.partitions, t.replication) for t in session.scalars(_TOPICS, params)}
    for dataset, target, permission in session.execute(_DATASET_SHARES, params):
        state.dataset_shares.setdefault(dataset, {})[target] = permission == editable
    for kind, resource, target, permission in session.execute(_RESOURCE_SHARES, params):
        if kind == ShareKind.TOPIC:
            state.topic_shares.append(
                TopicShare(state.name, resource, target, permission == editable)
            )
        else:
            state.hive_shares[target] = permission == editable
