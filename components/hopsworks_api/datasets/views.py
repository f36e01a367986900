"""Dataset and file routes. Uploads and downloads stream: memory use does not grow
with file size."""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote

import anyio
from anyio.abc import TaskGroup
from fastapi import APIRouter, Request, status
from fastapi.responses import Response, StreamingResponse
from starlette.requests import ClientDisconnect

from hopsworks_api.datasets import files, service
from hopsworks_api.datasets.models import (
    DatasetCreate,
    DatasetRead,
    DirectoryCreated,
    DirectoryListing,
    UploadResult,
)
from hopsworks_api.datasets.ranges import RangeRequest
from hopsworks_api.deps import CurrentUser, PageDep, RuntimeDep
from hopsworks_api.errors import AppError, BadRequest, PayloadTooLarge
from hopsworks_api.paths import API
from hopsworks_api.reads import run_read
from hopsworks_api.schemas import Page, paginate

router = APIRouter(prefix=API + "/projects/{project}/datasets", tags=["datasets"])

WRITE_BUFFER = 4 * 1024 * 1024
"""An upload stores its body in batches of this many bytes: one worker-thread hop (and
one writev) per batch, while the next batch is received (see `store_body`)."""
DRAIN_LIMIT = 64 * 1024 * 1024
HEARTBEATS_PER_TIMEOUT = 4  # an upload receiving data refreshes its reservation this often


@router.get("", name="dataset.list")
async def list_datasets(
    project: str, user: CurrentUser, rt: RuntimeDep, page: PageDep
) -> Page[DatasetRead]:
    return paginate(await run_read(rt, service.list_datasets, rt, user=user, project=project), page)


@router.post("", status_code=status.HTTP_201_CREATED, name="dataset.create")
def create_dataset(
    project: str, body: DatasetCreate, request: Request, user: CurrentUser, rt: RuntimeDep
) -> DatasetRead:
    request.state.audit.target = body.name
    return service.create(rt, user=user, project=project, data=body)


@router.delete("/{dataset}", status_code=status.HTTP_204_NO_CONTENT, name="dataset.delete")
def delete_dataset(project: str, dataset: str, user: CurrentUser, rt: RuntimeDep) -> None:
    service.delete(rt, user=user, project=project, dataset=dataset)


def _file_headers(info: files.FileInfo) -> dict[str, str]:
    """Headers are Latin-1: the name goes as ASCII and, exactly, as RFC 6266 `filename*`."""
    plain = info.name.encode("ascii", "replace").decode("ascii").replace('"', "")
    return {
        "Accept-Ranges": "bytes",
        "ETag": info.etag,
        "Last-Modified": info.last_modified,
        "X-Hops-Entry-Type": "file",
        "Content-Disposition": f'attachment; filename="{plain}"; '
        f"filename*=UTF-8''{quote(info.name, safe='')}",
    }


async def _read(
    rt: Any, user: Any, project: str, dataset: str, path: str, request: Request, page: Any
) -> Any:
    ranged = RangeRequest(request.headers.get("range"), request.headers.get("if-range"))
    result = await run_read(
        rt,
        files.read,
        rt,
        user=user,
        project=project,
        dataset=dataset,
        path=path,
        page=page,
        ranged=ranged,
    )
    if isinstance(result, DirectoryListing):
        return result
    headers = {**_file_headers(result.info), "Content-Length": str(result.size)}
    if result.range is not None:
        headers["Content-Range"] = result.range.content_range(result.info.size)
    return StreamingResponse(
        result.chunks,
        status_code=status.HTTP_206_PARTIAL_CONTENT if result.range else status.HTTP_200_OK,
        media_type="application/octet-stream",
        headers=headers,
    )


FILE_READ_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/octet-stream": {}}},
    206: {"description": "One byte range of the file (`Range: bytes=...`)"},
    416: {"description": "No byte of the range is in the file"},
}


@router.get(
    "/{dataset}/files",
    name="file.read",
    response_model=DirectoryListing,
    responses=FILE_READ_RESPONSES,
)
async def read_root(
    project: str, dataset: str, request: Request, user: CurrentUser, rt: RuntimeDep, page: PageDep
) -> Any:
    return await _read(rt, user, project, dataset, "", request, page)


@router.get(
    "/{dataset}/files/{path:path}",
    name="file.read",
    response_model=DirectoryListing,
    responses=FILE_READ_RESPONSES,
)
async def read_path(
    project: str,
    dataset: str,
    path: str,
    request: Request,
    user: CurrentUser,
    rt: RuntimeDep,
    page: PageDep,
) -> Any:
    """A directory answers with one page of its listing; a file downloads as a stream,
    whole or the one byte range `Range` asks for."""
    return await _read(rt, user, project, dataset, path, request, page)


def _head(rt: Any, user: Any, project: str, dataset: str, path: str) -> Response:
    """GET's status and headers without its body; not audited unless refused (metadata,
    like a listing: the bytes are what a download's audit record is about). Left out of
    the OpenAPI document as HEAD is everywhere: implied by GET (see openapi.allowed_methods),
    and an error answer without a body cannot have the documented error shape."""
    info = files.inspect(rt, user=user, project=project, dataset=dataset, path=path)
    if info is None:
        return Response(headers={"X-Hops-Entry-Type": "dir"}, media_type="application/json")
    headers = {**_file_headers(info), "Content-Length": str(info.size)}
    return Response(headers=headers, media_type="application/octet-stream")


@router.head("/{dataset}/files", name="file.head", include_in_schema=False)
def head_root(project: str, dataset: str, user: CurrentUser, rt: RuntimeDep) -> Response:
    return _head(rt, user, project, dataset, "")


@router.head("/{dataset}/files/{path:path}", name="file.head", include_in_schema=False)
def head_path(project: str, dataset: str, path: str, user: CurrentUser, rt: RuntimeDep) -> Response:
    return _head(rt, user, project, dataset, path)


@router.post(
    "/{dataset}/directories/{path:path}",
    status_code=status.HTTP_201_CREATED,
    name="file.mkdir",
)
def make_directory(
    project: str, dataset: str, path: str, user: CurrentUser, rt: RuntimeDep
) -> DirectoryCreated:
    """An empty directory (parents made as needed); 409 if anything is at the path."""
    made = files.make_directory(rt, user=user, project=project, dataset=dataset, path=path)
    return DirectoryCreated(dataset=dataset, path=made)


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


class _Jobs:
    """Storage work of one upload run in worker threads one job at a time, in order,
    while the caller goes on receiving: at most one job runs and the caller waits for it
    before it starts the next. A job's error is raised to the caller at its next step."""

    def __init__(self, tasks: TaskGroup) -> None:
        self._tasks = tasks
        self._idle = anyio.Event()
        self._idle.set()
        self._error: Exception | None = None

    async def start(self, job: Callable[[], object]) -> None:
        await self.wait()
        self._idle = anyio.Event()
        self._tasks.start_soon(self._run, job)

    async def wait(self) -> None:
        await self._idle.wait()
        if self._error is not None:
            raise self._error

    async def _run(self, job: Callable[[], object]) -> None:
        try:
            await anyio.to_thread.run_sync(job)
        except Exception as exc:  # raised to the caller by its next start() or wait()
            self._error = exc
        finally:
            self._idle.set()


async def store_body(
    body: Body,
    write_many: Callable[[list[bytes]], object],
    beat: Callable[[], object] | None = None,
    beat_every: float = float("inf"),
) -> None:
    """Store the whole body through `write_many`, in batches of `WRITE_BUFFER` bytes: each
    batch is written in a worker thread while the next one is received, so the network and
    the disk work at the same time. The received pieces are handed over as they are (no
    joining copy). Memory is bounded whatever the size: one batch being written, one being
    received. `beat` (the reservation's heartbeat) runs between writes every `beat_every`
    seconds while data arrives. Returns once every byte is stored; a write in flight is
    always waited for, also on an error, so an abort never races it."""
    failure: Exception | None = None
    async with anyio.create_task_group() as tasks:
        jobs = _Jobs(tasks)
        try:
            batch: list[bytes] = []
            size = 0
            last_beat = time.monotonic()
            async for chunk in body.chunks():
                batch.append(chunk)
                size += len(chunk)
                if size >= WRITE_BUFFER:
                    await jobs.start(functools.partial(write_many, batch))
                    batch, size = [], 0
                if beat is not None and time.monotonic() - last_beat >= beat_every:
                    await jobs.start(beat)
                    last_beat = time.monotonic()
            if batch:
                await jobs.start(functools.partial(write_many, batch))
            await jobs.wait()
        except Exception as exc:  # raised once the task group has waited for the write
            failure = exc
    if failure is not None:
        raise failure


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
        await store_body(
            body, upload.write_many, upload.touch, idle_timeout / HEARTBEATS_PER_TIMEOUT
        )
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
