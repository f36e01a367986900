"""Kafka topic routes."""

from __future__ import annotations

from fastapi import APIRouter, status

from hopsworks_api.deps import CurrentUser, PageDep, RuntimeDep
from hopsworks_api.paths import API
from hopsworks_api.schemas import Page, paginate
from hopsworks_api.topics import service
from hopsworks_api.topics.models import TopicCreate, TopicRead

router = APIRouter(prefix=API + "/projects/{project}/topics", tags=["kafka"])


@router.get("", name="topic.list")
def list_topics(project: str, user: CurrentUser, rt: RuntimeDep, page: PageDep) -> Page[TopicRead]:
    return paginate(service.list_topics(rt, user=user, project=project), page)


@router.post("", status_code=status.HTTP_201_CREATED, name="topic.create")
def create_topic(project: str, body: TopicCreate, user: CurrentUser, rt: RuntimeDep) -> TopicRead:
    return service.create(rt, user=user, project=project, data=body)


@router.delete("/{topic}", status_code=status.HTTP_204_NO_CONTENT, name="topic.delete")
def delete_topic(project: str, topic: str, user: CurrentUser, rt: RuntimeDep) -> None:
    service.delete(rt, user=user, project=project, topic=topic)
