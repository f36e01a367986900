"""Topic use cases: the DB row and the broker's topic are created or removed together, and
the project's max-topics quota is checked in the DB (the backend re-checks as a backstop)."""

from __future__ import annotations

from sqlalchemy import func, select

from hopsworks_api.authz import Action
from hopsworks_api.db.unique import flush_unique
from hopsworks_api.errors import NotFound, PayloadTooLarge
from hopsworks_api.projects import service as project_service
from hopsworks_api.quotas.models import ProjectQuota
from hopsworks_api.runtime import Runtime
from hopsworks_api.saga import Saga
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


def create(rt: Runtime, *, user: User, project: str, data: TopicCreate) -> TopicRead:
    with rt.sessions() as session:
        access = project_service.authorize(
            session, project=project, user=user, action=Action.MANAGE_DATASETS
        )
        quota = session.get(ProjectQuota, access.project_id, with_for_update=True)
        limit = quota.kafka_topics_limit if quota else None
        held = (
            session.scalar(
                select(func.count()).select_from(Topic).where(Topic.project_id == access.project_id)
            )
            or 0
        )
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
        with Saga("create topic") as saga:
            saga.step(
                "kafka",
                lambda: rt.backends.kafka.create_topic(
                    access.project,
                    data.name,
                    data.partitions,
                    data.replication,
                    max_topics=limit,
                ),
                lambda: rt.backends.kafka.delete_topic(access.project, data.name),
            )
            session.commit()
        return TopicRead.model_validate(topic)


def delete(rt: Runtime, *, user: User, project: str, topic: str) -> None:
    """The broker's topic goes first; if that fails the row stays and the API says so."""
    with rt.sessions() as session:
        access = project_service.authorize(
            session, project=project, user=user, action=Action.MANAGE_DATASETS
        )
        row = session.scalar(
            select(Topic).where(Topic.project_id == access.project_id, Topic.name == topic)
        )
        if row is None:
            raise NotFound(f"topic '{topic}' not found in project '{project}'")
        session.delete(row)
        session.flush()
        rt.backends.kafka.delete_topic(access.project, topic)
        session.commit()
