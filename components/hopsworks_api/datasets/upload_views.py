"""Resumable upload sessions over HTTP: create, send chunks (any order, in parallel),
see what arrived, complete, abort. Chunk bodies stream to storage like uploads do."""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Request, Response, status

from hopsworks_api.datasets import files, uploads
from hopsworks_api.datasets.models import UploadResult
from hopsworks_api.datasets.upload_models import (
    ChunkReceived,
    UploadSessionCreate,
    UploadSessionRead,
)
from hopsworks_api.datasets.views import Body, _declared_length, store_body
from hopsworks_api.deps import CurrentUser, RuntimeDep
from hopsworks_api.errors import AppError
from hopsworks_api.paths import API

router = APIRouter(prefix=API + "/projects/{project}/datasets/{dataset}/uploads", tags=["uploads"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    name="upload.create",
    responses={
        200: {
            "model": UploadSessionRead,
            "description": "The caller's session with the same client_key (created earlier)",
        }
    },
)
def create(
    project: str,
    dataset: str,
    body: UploadSessionCreate,
    request: Request,
    response: Response,
    user: CurrentUser,
    rt: RuntimeDep,
) -> UploadSessionRead:
    """Reserve the quota for the whole file; chunks then go to `.../chunks/{n}`."""
    request.state.audit.target = f"{dataset}/{body.path}"
    session, created = uploads.open_session(
        rt,
        user=user,
        project=project,
        dataset=dataset,
        path=body.path,
        size=body.size,
        chunk_size=body.chunk_size,
        total_chunks=body.total_chunks,
        overwrite=body.overwrite,
        client_key=body.client_key,
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return session


@router.get("/{session_id}", name="upload.read")
def read(
    project: str, dataset: str, session_id: str, user: CurrentUser, rt: RuntimeDep
) -> UploadSessionRead:
    """What was received: a client resumes by sending the chunks not listed."""
    return uploads.get_session(
        rt, user=user, project=project, session_id=session_id, dataset=dataset
    )


@router.put(
    "/{session_id}/chunks/{number}",
    name="upload.chunk",
    openapi_extra={"requestBody": {"content": {"application/octet-stream": {}}, "required": True}},
)
async def put_chunk(
    project: str,
    dataset: str,
    session_id: str,
    number: int,
    request: Request,
    user: CurrentUser,
    rt: RuntimeDep,
) -> ChunkReceived:
    """The raw body is chunk `number` (1-based), exactly as long as the chunking says."""
    declared = _declared_length(request)
    body = Body(request, rt.settings.upload_idle_timeout_seconds)
    try:
        write = await anyio.to_thread.run_sync(
            lambda: uploads.begin_chunk(
                rt,
                user=user,
                project=project,
                session_id=session_id,
                number=number,
                dataset=dataset,
                declared=declared,
            )
        )
    except AppError:
        await body.drain()
        raise
    request.state.audit.target = f"{dataset}/{write.path}#{number}"
    try:
        await store_body(body, write.write_many)
        return await anyio.to_thread.run_sync(write.finish)
    except files.UploadTimeout:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(write.abort)
        raise
    except AppError:
        await anyio.to_thread.run_sync(write.abort)
        await body.drain()
        raise
    except BaseException:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(write.abort)
        raise


@router.post("/{session_id}/complete", status_code=status.HTTP_201_CREATED, name="upload.complete")
def complete(
    project: str, dataset: str, session_id: str, request: Request, user: CurrentUser, rt: RuntimeDep
) -> UploadResult:
    """Assemble the chunks into the file, which appears at once; 409 names missing chunks."""
    result = uploads.complete(
        rt, user=user, project=project, session_id=session_id, dataset=dataset
    )
    request.state.audit.target = f"{dataset}/{result.path}"
    return result


@router.delete("/{session_id}", status_code=status.HTTP_204_NO_CONTENT, name="upload.abort")
def abort(
    project: str, dataset: str, session_id: str, request: Request, user: CurrentUser, rt: RuntimeDep
) -> None:
    """Drop the session: its chunks go and its quota reservation is given back."""
    path = uploads.abort(rt, user=user, project=project, session_id=session_id, dataset=dataset)
    request.state.audit.target = f"{dataset}/{path}"
