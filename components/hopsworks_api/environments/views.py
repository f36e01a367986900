"""Python environment routes (builds are asynchronous: POST and PUT answer 202)."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import PlainTextResponse

from hopsworks_api.deps import CurrentUser, PageDep, RuntimeDep
from hopsworks_api.environments import service
from hopsworks_api.environments.models import (
    EnvironmentCreate,
    EnvironmentRead,
    EnvironmentSummary,
    EnvironmentUpdate,
)
from hopsworks_api.paths import API
from hopsworks_api.schemas import Page, paginate

router = APIRouter(prefix=API + "/projects/{project}/environments", tags=["environments"])


@router.get("", name="environment.list")
def list_environments(
    project: str, user: CurrentUser, rt: RuntimeDep, page: PageDep
) -> Page[EnvironmentSummary]:
    return paginate(service.list_environments(rt, user=user, project=project), page)


@router.post("", status_code=status.HTTP_202_ACCEPTED, name="environment.create")
def create_environment(
    project: str, body: EnvironmentCreate, user: CurrentUser, rt: RuntimeDep
) -> EnvironmentRead:
    return service.create(rt, user=user, project=project, data=body)


@router.get("/{name}", name="environment.get")
def get_environment(project: str, name: str, user: CurrentUser, rt: RuntimeDep) -> EnvironmentRead:
    return service.get(rt, user=user, project=project, name=name)


@router.put("/{name}", status_code=status.HTTP_202_ACCEPTED, name="environment.rebuild")
def rebuild_environment(
    project: str, name: str, body: EnvironmentUpdate, user: CurrentUser, rt: RuntimeDep
) -> EnvironmentRead:
    return service.rebuild(rt, user=user, project=project, name=name, data=body)


@router.get("/{name}/lock", response_class=PlainTextResponse, name="environment.lock")
def get_lock(project: str, name: str, user: CurrentUser, rt: RuntimeDep) -> PlainTextResponse:
    return PlainTextResponse(service.lock(rt, user=user, project=project, name=name))


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT, name="environment.delete")
def delete_environment(project: str, name: str, user: CurrentUser, rt: RuntimeDep) -> None:
    service.delete(rt, user=user, project=project, name=name)
