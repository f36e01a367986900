"""The SDK's Kafka calls (`project/{id}/kafka/...`): create and list topics, delete one,
and the brokers to bootstrap from, translated to the platform's topic service.

The SDK requires an Avro schema subject and version for every topic; the platform has no
schema registry, so they are accepted and not kept (a listing answers none). On the broker
the topic is `<project>.<name>`, as every platform topic is.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, ConfigDict, Field

from hopsworks_api.deps import CurrentUser, RuntimeDep
from hopsworks_api.errors import BadRequest
from hopsworks_api.paths import SDK
from hopsworks_api.projects import service as project_service
from hopsworks_api.runtime import Runtime
from hopsworks_api.sdk_compat.projects import SdkProject
from hopsworks_api.topics import service as topic_service
from hopsworks_api.topics.models import TopicCreate, TopicRead

router = APIRouter(prefix=SDK, tags=["sdk"], include_in_schema=False)

BASE = "/project/{project_id:int}/kafka"


class SdkTopicCreate(BaseModel):
    """The SDK's body; limits are the platform's (TopicCreate), checked when translated."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=255)
    numOfPartitions: int = 1
    numOfReplicas: int = 1
    schemaName: str | None = None
    schemaVersion: int | None = None


def _topic(topic: TopicRead) -> dict[str, Any]:
    return {
        "name": topic.name,
        "numOfPartitions": topic.partitions,
        "numOfReplicas": topic.replication,
        "schemaName": None,
        "schemaVersion": None,
        "shared": False,
        "accepted": True,
    }


def _topic_create(body: SdkTopicCreate) -> TopicCreate:
    try:
        return TopicCreate(
            name=body.name, partitions=body.numOfPartitions, replication=body.numOfReplicas
        )
    except ValueError as exc:
        reason = "; ".join(e["msg"] for e in getattr(exc, "errors", lambda: [])()[:3])
        raise BadRequest(f"invalid topic: {reason or exc}", code="bad_topic_config") from exc


@router.post(BASE + "/topics", status_code=status.HTTP_201_CREATED, name="sdk.kafka.create")
def create_topic(
    project: SdkProject, body: SdkTopicCreate, request: Request, user: CurrentUser, rt: RuntimeDep
) -> dict[str, Any]:
    request.state.audit.target = body.name
    created = topic_service.create(rt, user=user, project=project, data=_topic_create(body))
    return _topic(created)


@router.get(BASE + "/topics", name="sdk.kafka.list")
def list_topics(project: SdkProject, user: CurrentUser, rt: RuntimeDep) -> dict[str, Any]:
    topics = topic_service.list_topics(rt, user=user, project=project)
    return {"count": len(topics), "items": [_topic(t) for t in topics]}


@router.delete(
    BASE + "/topics/{name}", status_code=status.HTTP_204_NO_CONTENT, name="sdk.kafka.delete"
)
def delete_topic(project: SdkProject, name: str, user: CurrentUser, rt: RuntimeDep) -> None:
    topic_service.delete(rt, user=user, project=project, topic=name)


def brokers(rt: Runtime) -> list[str]:
    """The bootstrap servers of a Kafka cluster; none for the embedded backend (it keeps
    topics in the control service only and runs no broker)."""
    settings = rt.settings
    if settings.kafka_backend == "embedded" or not settings.kafka_bootstrap_servers:
        return []
    return [b.strip() for b in settings.kafka_bootstrap_servers.split(",") if b.strip()]


@router.get(BASE + "/clusterinfo", name="sdk.kafka.clusterinfo")
def cluster_info(
    project: SdkProject, user: CurrentUser, rt: RuntimeDep, external: bool = False
) -> dict[str, Any]:
    """The same brokers inside and outside: the platform has one listener for clients."""
    project_service.get(rt, user=user, project=project)  # members (and admins) only
    return {"brokers": brokers(rt)}
