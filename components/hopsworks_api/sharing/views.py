"""Sharing routes: the owner's side under the dataset, the receiver's under /shared."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from hopsworks_api.deps import CurrentUser, PageDep, RuntimeDep
from hopsworks_api.paths import API
from hopsworks_api.schemas import Page, paginate
from hopsworks_api.sharing import service
from hopsworks_api.sharing.models import ShareCreate, ShareRead

router = APIRouter(prefix=API + "/projects/{project}", tags=["sharing"])


@router.post("/datasets/{dataset}/shares", status_code=status.HTTP_201_CREATED, name="share.offer")
def offer(
    project: str, dataset: str, body: ShareCreate, user: CurrentUser, rt: RuntimeDep
) -> ShareRead:
    return service.offer(rt, user=user, project=project, dataset=dataset, data=body)


@router.get("/datasets/{dataset}/shares", name="share.list")
def list_shares(
    project: str, dataset: str, user: CurrentUser, rt: RuntimeDep, page: PageDep
) -> Page[ShareRead]:
    return paginate(service.list_shares(rt, user=user, project=project, dataset=dataset), page)


@router.delete(
    "/datasets/{dataset}/shares/{target}",
    status_code=status.HTTP_204_NO_CONTENT,
    name="share.unshare",
)
def unshare(project: str, dataset: str, target: str, user: CurrentUser, rt: RuntimeDep) -> None:
    service.unshare(rt, user=user, project=project, dataset=dataset, target=target)


@router.get("/shared", name="share.incoming")
def shared_with(project: str, user: CurrentUser, rt: RuntimeDep, page: PageDep) -> Page[ShareRead]:
    return paginate(service.shared_with(rt, user=user, project=project), page)


@router.post("/shared/{ref}/accept", name="share.accept")
def accept(project: str, ref: str, user: CurrentUser, rt: RuntimeDep) -> ShareRead | None:
    return service.respond(rt, user=user, project=project, ref=ref, accept=True)


@router.post("/shared/{ref}/reject", status_code=status.HTTP_204_NO_CONTENT, name="share.reject")
def reject(project: str, ref: str, user: CurrentUser, rt: RuntimeDep) -> Response:
    service.respond(rt, user=user, project=project, ref=ref, accept=False)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
