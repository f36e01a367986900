"""Dataset and file routes. Uploads and downloads stream: memory use does not grow
with file size."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi import APIRouter, Request, status
from fastapi.responses import StreamingResponse
from starlette.requests import ClientDisconnect

from hopsworks_api.datasets import files, service
from hopsworks_api.datasets.models import (
    DatasetCreate,
    DatasetRead,
    DirectoryListing,
    UploadResult,
)
from hopsworks_api.deps import CurrentUser, RuntimeDep
from hopsworks_api.errors import AppError, BadRequest, PayloadTooLarge

router = APIRouter(prefix="/projects/{project}/datasets", tags=["datasets"])

WRITE_BUFFER = 1024 * 1024
DRAIN_LIMIT = 64 * 1024 * 1024
HEARTBEATS_PER_TIMEOUT = 4  # an upload receiving data refreshes its reservation this often


@router.get("", name="dataset.list")
def list_datasets(project: str, user: CurrentUser, rt: RuntimeDep) -> list[DatasetRead]:
    return service.list_datasets(rt, user=user, project=project)


@router.post("", status_code=status.HTTP_201_CREATED, name="dataset.create")
def create_dataset(
    project: str, body: DatasetCreate, request: Request, user: CurrentUser, rt: RuntimeDep
) -> DatasetRead:
    request.state.audit.target = body.name
    return service.create(rt, user=user, project=project, data=body)


@router.delete("/{dataset}", status_code=status.HTTP_204_NO_CONTENT, name="dataset.delete")
def delete_dataset(project: str, dataset: str, user: CurrentUser, rt: RuntimeDep) -> None:
    service.delete(rt, user=user, project=project, dataset=dataset)


def _read(rt: Any, user: Any, project: str, dataset: str, path: str) -> Any:
    result = files.read(rt, user=user, project=project, dataset=dataset, path=path)
    if isinstance(result, DirectoryListing):
        return result
    quoted = result.name.replace('"', "")
    return StreamingResponse(
        result.chunks,
        media_type="application/octet-stream",
        headers={
            "Content-Length": str(result.size),
            "Content-Disposition": f'attachment; filename="{quoted}"',
        },
    )


@router.get(
    "/{dataset}/files",
    name="file.read",
    response_model=DirectoryListing,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def read_root(project: str, dataset: str, user: CurrentUser, rt: RuntimeDep) -> Any:
    return _read(rt, user, project, dataset, "")


@router.get(
    "/{dataset}/files/{path:path}",
    name="file.read",
    response_model=DirectoryListing,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def read_path(project: str, dataset: str, path: str, user: CurrentUser, rt: RuntimeDep) -> Any:
    """A directory answers with its listing; a file downloads as a stream."""
    return _read(rt, user, project, dataset, path)


def _declared_length(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    if not raw.isdigit():
        raise BadRequest("Content-Length must be a non-negative integer")
    return int(raw)


class Body:
    """The raw request body as chunks, remembering whether the client finished sending:
    after the last chunk, asking the server for more would wait for a disconnect.

    A client that sends nothing for `idle_timeout` seconds gets 408: an upload that stalls
    must not hold its quota reservation (and a worker) for ever."""

    def __init__(self, request: Request, idle_timeout: float) -> None:
        self._receive = request.receive
        self._idle_timeout = idle_timeout
        self.complete = False

    async def chunks(self) -> AsyncIterator[bytes]:
        while not self.complete:
            try:
                with anyio.fail_after(self._idle_timeout):
                    message = await self._receive()
            except TimeoutError:
                raise files.UploadTimeout(
                    f"no data received for {self._idle_timeout:g} s; the upload was abandoned"
                ) from None
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            self.complete = not message.get("more_body", False)
            if chunk := message.get("body", b""):
                yield chunk

    async def drain(self) -> None:
        """Read what the client is still sending (bounded) so that it receives our answer."""
        drained = 0
        try:
            async for chunk in self.chunks():
                drained += len(chunk)
                if drained > DRAIN_LIMIT:
                    return
        except (files.UploadTimeout, ClientDisconnect):
            return


@router.put(
    "/{dataset}/files/{path:path}",
    status_code=status.HTTP_201_CREATED,
    name="file.upload",
    openapi_extra={"requestBody": {"content": {"application/octet-stream": {}}, "required": True}},
)
async def upload(
    project: str, dataset: str, path: str, request: Request, user: CurrentUser, rt: RuntimeDep
) -> UploadResult:
    """The raw body is the file. Quota is checked before the first byte is stored."""
    declared = _declared_length(request)
    idle_timeout = rt.settings.upload_idle_timeout_seconds
    body = Body(request, idle_timeout)
    try:
        upload = await anyio.to_thread.run_sync(
            lambda: files.begin_upload(
                rt, user=user, project=project, dataset=dataset, path=path, declared=declared
            )
        )
    except PayloadTooLarge:
        await body.drain()
        raise
    try:
        buffer = bytearray()
        heartbeat = time.monotonic()
        async for chunk in body.chunks():
            buffer += chunk
            if len(buffer) >= WRITE_BUFFER:
                await anyio.to_thread.run_sync(upload.write, bytes(buffer))
                buffer.clear()
            if time.monotonic() - heartbeat >= idle_timeout / HEARTBEATS_PER_TIMEOUT:
                await anyio.to_thread.run_sync(upload.touch)
                heartbeat = time.monotonic()
        if buffer:
            await anyio.to_thread.run_sync(upload.write, bytes(buffer))
        return await anyio.to_thread.run_sync(upload.finish)
    except files.UploadTimeout:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(upload.abort)
        raise
    except AppError:
        # refused midway (quota, the dataset deleted meanwhile, a lying Content-Length):
        # clean up, then read the rest (bounded) so that the client receives the answer
        await anyio.to_thread.run_sync(upload.abort)
        await body.drain()
        raise
    except BaseException:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(upload.abort)
        raise


@router.delete(
    "/{dataset}/files/{path:path}", status_code=status.HTTP_204_NO_CONTENT, name="file.delete"
)
def delete_path(project: str, dataset: str, path: str, user: CurrentUser, rt: RuntimeDep) -> None:
    files.delete(rt, user=user, project=project, dataset=dataset, path=path)
