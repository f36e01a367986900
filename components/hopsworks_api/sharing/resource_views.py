"""Routes for topic and Hive database shares, shaped like the dataset share routes."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from hopsworks_api.deps import CurrentUser, PageDep, RuntimeDep
from hopsworks_api.paths import API
from hopsworks_api.schemas import Page, paginate
from hopsworks_api.sharing import resources as service
from hopsworks_api.sharing.models import ResourceShareRead, ShareCreate, ShareKind

router = APIRouter(prefix=API + "/projects/{project}", tags=["sharing"])
TOPIC, HIVE = ShareKind.TOPIC, ShareKind.HIVE
NO_CONTENT = status.HTTP_204_NO_CONTENT


@router.post("/topics/{topic}/shares", status_code=201, name="topic_share.offer")
def offer_topic(
    project: str, topic: str, body: ShareCreate, user: CurrentUser, rt: RuntimeDep
) -> ResourceShareRead:
    return service.offer(rt, user=user, project=project, kind=TOPIC, resource=topic, data=body)


@router.get("/topics/{topic}/shares", name="topic_share.list")
def list_topic_shares(
    project: str, topic: str, user: CurrentUser, rt: RuntimeDep, page: PageDep
) -> Page[ResourceShareRead]:
    return paginate(
        service.list_shares(rt, user=user, project=project, kind=TOPIC, resource=topic), page
    )


@router.delete("/topics/{topic}/shares/{target}", status_code=NO_CONTENT, name="topic_share.end")
def unshare_topic(project: str, topic: str, target: str, user: CurrentUser, rt: RuntimeDep) -> None:
    service.unshare(rt, user=user, project=project, kind=TOPIC, resource=topic, target=target)


@router.post("/hive/shares", status_code=201, name="hive_share.offer")
def offer_hive(
    project: str, body: ShareCreate, user: CurrentUser, rt: RuntimeDep
) -> ResourceShareRead:
    return service.offer(rt, user=user, project=project, kind=HIVE, resource="", data=body)


@router.get("/hive/shares", name="hive_share.list")
def list_hive_shares(
    project: str, user: CurrentUser, rt: RuntimeDep, page: PageDep
) -> Page[ResourceShareRead]:
    return paginate(
        service.list_shares(rt, user=user, project=project, kind=HIVE, resource=""), page
    )


@router.delete("/hive/shares/{target}", status_code=NO_CONTENT, name="hive_share.end")
def unshare_hive(project: str, target: str, user: CurrentUser, rt: RuntimeDep) -> None:
    service.unshare(rt, user=user, project=project, kind=HIVE, resource="", target=target)


@router.get("/shared/topics", name="topic_share.incoming")
def shared_topics(
    project: str, user: CurrentUser, rt: RuntimeDep, page: PageDep
) -> Page[ResourceShareRead]:
    return paginate(service.shared_with(rt, user=user, project=project, kind=TOPIC), page)


@router.get("/shared/hive", name="hive_share.incoming")
def shared_hive(
    project: str, user: CurrentUser, rt: RuntimeDep, page: PageDep
) -> Page[ResourceShareRead]:
    return paginate(service.shared_with(rt, user=user, project=project, kind=HIVE), page)


@router.post("/shared/topics/{ref}/accept", name="topic_share.accept")
def accept_topic(project: str, ref: str, user: CurrentUser, rt: RuntimeDep) -> ResourceShareRead:
    share = service.respond(rt, user=user, project=project, kind=TOPIC, ref=ref, accept=True)
    assert share is not None
    return share


@router.post("/shared/topics/{ref}/reject", status_code=NO_CONTENT, name="topic_share.reject")
def reject_topic(project: str, ref: str, user: CurrentUser, rt: RuntimeDep) -> Response:
    service.respond(rt, user=user, project=project, kind=TOPIC, ref=ref, accept=False)
    return Response(status_code=NO_CONTENT)


@router.post("/shared/hive/{owner}/accept", name="hive_share.accept")
def accept_hive(project: str, owner: str, user: CurrentUser, rt: RuntimeDep) -> ResourceShareRead:
    share = service.respond(rt, user=user, project=project, kind=HIVE, ref=owner, accept=True)
    assert share is not None
    return share


@router.post("/shared/hive/{owner}/reject", status_code=NO_CONTENT, name="hive_share.reject")
def reject_hive(project: str, owner: str, user: CurrentUser, rt: RuntimeDep) -> Response:
    service.respond(rt, user=user, project=project, kind=HIVE, ref=owner, accept=False)
    return Response(status_code=NO_CONTENT)
