"""Serving routes: create, list, read, start, stop, delete, and predictions through the
platform (the only way to reach a model server)."""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Request, status
from starlette.responses import Response

from hopsworks_api.deps import CurrentUser, RuntimeDep
from hopsworks_api.servings import proxy, service
from hopsworks_api.servings.models import ServingCreate, ServingRead

router = APIRouter(prefix="/projects/{project}/servings", tags=["servings"])


@router.post(
    "/{name}:predict",
    name="serving.predict",
    responses={200: {"description": 'the model server\'s answer: {"predictions": [...]}'}},
)
async def predict(
    project: str, name: str, request: Request, user: CurrentUser, rt: RuntimeDep
) -> Response:
    """KServe's v1 protocol: {"instances": [[...], ...]} -> {"predictions": [...]}."""
    target = await anyio.to_thread.run_sync(
        lambda: service.predict_target(rt, user=user, project=project, name=name)
    )
    return await proxy.predict(target, await request.body())


@router.post("", status_code=status.HTTP_201_CREATED, name="serving.create")
def create(project: str, body: ServingCreate, user: CurrentUser, rt: RuntimeDep) -> ServingRead:
    return service.create(rt, user=user, project=project, data=body)


@router.get("", name="serving.list")
def list_servings(project: str, user: CurrentUser, rt: RuntimeDep) -> list[ServingRead]:
    return service.list_servings(rt, user=user, project=project)


@router.get("/{name}", name="serving.read")
def read(project: str, name: str, user: CurrentUser, rt: RuntimeDep) -> ServingRead:
    return service.get(rt, user=user, project=project, name=name)


@router.post("/{name}/start", name="serving.start")
def start(project: str, name: str, user: CurrentUser, rt: RuntimeDep) -> ServingRead:
    return service.start(rt, user=user, project=project, name=name)


@router.post("/{name}/stop", name="serving.stop")
def stop(project: str, name: str, user: CurrentUser, rt: RuntimeDep) -> ServingRead:
    return service.stop(rt, user=user, project=project, name=name)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT, name="serving.delete")
def delete(project: str, name: str, user: CurrentUser, rt: RuntimeDep) -> None:
    service.delete(rt, user=user, project=project, name=name)
