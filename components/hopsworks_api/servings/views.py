"""Serving routes: create, list, read, start, stop, delete, and predictions through the
platform (the only way to reach a model server)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import anyio
from fastapi import APIRouter, Request, status
from starlette.background import BackgroundTask
from starlette.responses import Response

from hopsworks_api.deps import CurrentUser, PageDep, RuntimeDep
from hopsworks_api.errors import AppError, error_body
from hopsworks_api.paths import API
from hopsworks_api.schemas import Page, paginate
from hopsworks_api.servings import inference_log, proxy, service
from hopsworks_api.servings.models import ServingCreate, ServingRead

router = APIRouter(prefix=API + "/projects/{project}/servings", tags=["servings"])


@router.post(
    "/{name}:predict",
    name="serving.predict",
    responses={200: {"description": 'the model server\'s answer: {"predictions": [...]}'}},
)
async def predict(
    project: str, name: str, request: Request, user: CurrentUser, rt: RuntimeDep
) -> Response:
    """KServe's v1 protocol: {"instances": [[...], ...]} -> {"predictions": [...]}.

    The exchange goes to the project's inference log after the answer is sent (a refusal
    by the platform itself, an unreachable server, is written before it is raised)."""
    target = await anyio.to_thread.run_sync(
        lambda: service.predict_target(rt, user=user, project=project, name=name)
    )
    body = await request.body()
    when, started = datetime.now(UTC), time.perf_counter()
    try:
        response = await proxy.predict(target, body, rt.backends.servers)
    except AppError as exc:
        if target.log:
            failed = json.dumps(error_body(exc.code, exc.message)).encode()
            entry = _entry(target, when, started, body, exc.status_code, failed)
            await anyio.to_thread.run_sync(inference_log.write, rt, entry)
        raise
    if target.log:
        entry = _entry(target, when, started, body, response.status_code, bytes(response.body))
        response.background = BackgroundTask(inference_log.write, rt, entry)
    return response


def _entry(
    target: service.PredictTarget,
    when: datetime,
    started: float,
    request: bytes,
    status_code: int,
    response: bytes,
) -> inference_log.Prediction:
    return inference_log.Prediction(
        project=target.project,
        serving=target.name,
        model=target.model,
        version=target.version,
        member=target.member,
        identity=target.identity,
        time=when,
        latency_s=time.perf_counter() - started,
        request=request,
        status=status_code,
        response=response,
    )


@router.post("", status_code=status.HTTP_201_CREATED, name="serving.create")
def create(project: str, body: ServingCreate, user: CurrentUser, rt: RuntimeDep) -> ServingRead:
    return service.create(rt, user=user, project=project, data=body)


@router.get("", name="serving.list")
def list_servings(
    project: str, user: CurrentUser, rt: RuntimeDep, page: PageDep
) -> Page[ServingRead]:
    return paginate(service.list_servings(rt, user=user, project=project), page)


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
