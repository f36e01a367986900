"""Topic use cases: the DB row and the broker's topic are created or removed together, and
the project's max-topics quota is checked in the DB (the backend re-checks as a backstop)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.orm import Session

from hopsworks_api.authz import Action, ProjectAccess
from hopsworks_api.db.rows import copy_of
from hopsworks_api.db.unique import flush_unique
from hopsworks_api.errors import NotFound, PayloadTooLarge
from hopsworks_api.projects import service as project_service
from hopsworks_api.provisioning.apply import commit_change
from hopsworks_api.quotas.models import ProjectQuota
from hopsworks_api.runtime import Runtime
from hopsworks_api.sharing.models import ResourceShare
from hopsworks_api.topics.models import Topic, TopicCreate, TopicRead
from hopsworks_api.users.models import User


def list_topics(rt: Runtime, *, user: User, project: str) -> list[TopicRead]:
    with rt.read_sessions() as session:
        access = project_service.authorize(
            session, project=project, user=user, action=Action.VIEW_PROJECT
        )
        rows = session.scalars(
            select(Topic).where(Topic.project_id == access.project_id).order_by(Topic.name)
        )
        return [TopicRead.model_validate(row) for row in rows]


def _locked_access(rt: Runtime, session: Session, *, user: User, project: str) -> ProjectAccess:
    return project_service.locked_access(
        rt, session, user=user, project=project, action=Action.MANAGE_DATASETS
    )


def create(rt: Runtime, *, user: User, project: str, data: TopicCreate) -> TopicRead:
    with rt.sessions() as session:
        # the project's lock first (see projects.service.lock): a deletion of the project
        # then waits for this creation, whose topic it deletes, or this finds it gone
        access = _locked_access(rt, session, user=user, project=project)
        created = _create(rt, session, access, data, if_missing=False)
        assert created is not None
        return created


def ensure(
    rt: Runtime, *, user: User, project: str, data: TopicCreate, action: Action
) -> TopicRead | None:
    """Create a topic the platform needs in the project (the inference log) unless it
    exists: a normal topic, counted against the quota (413 when full) and shareable, made
    on behalf of a member allowed `action`. None if it existed."""
    with rt.sessions() as session:
        access = project_service.locked_access(
            rt, session, user=user, project=project, action=action
        )
        return _create(rt, session, access, data, if_missing=True)


def _create(
    rt: Runtime, session: Session, access: ProjectAccess, data: TopicCreate, *, if_missing: bool
) -> TopicRead | None:
    project = access.project
    quota = session.get(ProjectQuota, access.project_id, with_for_update=True)
    limit = quota.kafka_topics_limit if quota else None
    # a locking read: creations of the project's topics are serialised by the quota
    # row's lock, but a plain count would read this transaction's snapshot, taken before
    # that lock's wait, and miss a topic the creation it waited for has just committed
    names = session.scalars(
        select(Topic.name).where(Topic.project_id == access.project_id).with_for_update(read=True)
    ).all()
    if if_missing and data.name in names:
        return None
    held = len(names)
    if limit is not None and held >= limit:
        raise PayloadTooLarge(
            f"project '{project}' may own at most {limit} Kafka topics and owns {held}"
        )
    topic = Topic(
        project_id=access.project_id,
        name=data.name,
        partitions=data.partitions,
        replication=data.replication,
    )
    session.add(topic)
    flush_unique(session, f"topic '{data.name}' already exists in '{project}'")
    result, topic_id = TopicRead.model_validate(topic), topic.id

    def undo(session: Session) -> None:
        session.execute(sa.delete(Topic).where(Topic.id == topic_id))

    commit_change(rt, session, reason="create topic", projects=[access.project_id], undo=undo)
    return result


def delete(rt: Runtime, *, user: User, project: str, topic: str) -> None:
    """The row goes (with its shares), then provisioning deletes the broker's topic; if
    that fails the rows come back and the API names the system."""
    with rt.sessions() as session:
        access = _locked_access(rt, session, user=user, project=project)
        # locked, so a concurrent deletion of the topic (or its project) that committed
        # first is seen: 404, not a DELETE that finds no row
        row = session.scalar(
            select(Topic)
            .where(Topic.project_id == access.project_id, Topic.name == topic)
            .with_for_update()
        )
        if row is None:
            raise NotFound(f"topic '{topic}' not found in project '{project}'")
        shares = session.scalars(
            select(ResourceShare).where(ResourceShare.topic_id == row.id).with_for_update()
        ).all()
        copies = [copy_of(row)] + [copy_of(share) for share in shares]
        session.delete(row)
        session.flush()

        def undo(session: Session) -> None:
            for copy in copies:
                copy.restore(session)

        commit_change(rt, session, reason="delete topic", projects=[access.project_id], undo=undo)
