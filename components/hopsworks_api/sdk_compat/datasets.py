"""The SDK's dataset calls (`project/{id}/dataset/...`): metadata, listing, mkdir, the
flow.js chunked upload, download and remove, translated to the platform's dataset, file
and upload-session services.

Paths come in two forms (`parse` has the rules): relative to the project
(`Resources/a.csv`, `/Resources/a.csv`) and absolute (`/Projects/<p>/Resources/a.csv`,
also `hdfs://[namenode]/Projects/...`); `/Projects/<other>/<ds>` is the dataset
`<other>::<ds>` shared with the project. Answers name paths absolutely, as Hopsworks does.

A flow.js upload sends each chunk as one multipart POST with the file's size, chunk size,
chunk count and identifier (`{size}_{name}`); the first chunk to arrive opens an upload
session keyed by that identifier (concurrent first chunks find the same session), every
chunk is stored as it comes, in any order, and the chunk that completes the set publishes
the file. Quota, permissions and atomic publication are the upload sessions' own.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, Request, status
from fastapi.responses import Response, StreamingResponse
from starlette.datastructures import UploadFile

from hopsworks_api.backends.runner.base import Stream
from hopsworks_api.datasets import files, uploads
from hopsworks_api.datasets import service as dataset_service
from hopsworks_api.datasets.models import DatasetCreate, DatasetRead, DirectoryListing, FileEntry
from hopsworks_api.deps import MAX_OFFSET, CurrentUser, RuntimeDep
from hopsworks_api.errors import AppError, BadRequest, Conflict, NotFound
from hopsworks_api.jobs import service as job_service
from hopsworks_api.paths import SDK
from hopsworks_api.runtime import Runtime
from hopsworks_api.schemas import PageParams
from hopsworks_api.sdk_compat.projects import SdkProject
from hopsworks_api.users.models import User

router = APIRouter(prefix=SDK, tags=["sdk"], include_in_schema=False)

BASE = "/project/{project_id:int}/dataset"
LISTING_PAGE = 500  # the platform's largest page; longer SDK pages are fetched in steps
MAX_LISTING = 10_000
READ_BLOCK = 1024 * 1024
MAX_CHUNK_BODY = 2 * 64 * 1024 * 1024 + 1024 * 1024  # flow.js's last chunk, plus the form
MAX_FLOW_SIZE = 2**62  # beyond any file, inside every DB's integers
MAX_FLOW_CHUNKS = 2**31 - 1  # chunk numbers are 32-bit integers in the DB
ABSOLUTE = "/Projects"
HDFS = "hdfs://"
SHARED_SEPARATOR = dataset_service.SHARED_SEPARATOR


class LengthRequired(AppError):
    status_code, code = 411, "length_required"


@dataclass(frozen=True)
class SdkPath:
    """An SDK path inside `project`: a dataset as the project addresses it ("" for the
    project's root), and the path inside it ("" for the dataset's root)."""

    project: str
    dataset: str
    rest: str

    @property
    def absolute(self) -> str:
        """`/Projects/<owner>/<dataset>[/<rest>]`, the form Hopsworks answers with."""
        if not self.dataset:
            return f"{ABSOLUTE}/{self.project}"
        owner, _, name = self.dataset.rpartition(SHARED_SEPARATOR)
        base = f"{ABSOLUTE}/{owner or self.project}/{name}"
        return f"{base}/{self.rest}" if self.rest else base

    def child(self, name: str) -> str:
        return f"{self.absolute}/{name}"


def parse(project: str, raw: str) -> SdkPath:
    """Either path form to (dataset, rest); repeated slashes count as one. What a segment
    may be is the storage's rule, checked by the service that receives the path."""
    path = raw.strip()
    if path.startswith(HDFS):
        after = path[len(HDFS) :]  # an authority (namenode:port), then the path
        path = after[after.index("/") :] if "/" in after else ""
        if not (path == ABSOLUTE or path.startswith(ABSOLUTE + "/")):
            raise BadRequest(f"'{raw}' is not a path under {ABSOLUTE}/", code="bad_path")
    parts = [p for p in path.split("/") if p]
    if path == ABSOLUTE or path.startswith(ABSOLUTE + "/"):
        if len(parts) < 2:
            raise BadRequest(f"'{raw}' names no project", code="bad_path")
        owner, parts = parts[1], parts[2:]
        if owner != project:
            if not parts:
                raise NotFound(f"project '{owner}' is not '{project}' nor shared with it")
            parts[0] = f"{owner}{SHARED_SEPARATOR}{parts[0]}"
    dataset = parts[0] if parts else ""
    return SdkPath(project, dataset, "/".join(parts[1:]))


def _attributes(path: str, name: str, *, is_dir: bool, size: int, modified: Any) -> dict:
    return {
        "name": name,
        "path": path,
        "dir": is_dir,
        "size": size,
        "modificationTime": modified.isoformat() if modified is not None else None,
        "underConstruction": False,
    }


def _dataset_id(path: str) -> int:
    """A stable number for a dataset (the SDK requires one; the platform names datasets)."""
    return zlib.crc32(path.encode())


def _dataset_item(project: str, dataset: DatasetRead) -> dict[str, Any]:
    where = SdkPath(project, dataset.name, "")
    name = dataset.name.rpartition(SHARED_SEPARATOR)[2]
    return {
        "id": _dataset_id(where.absolute),
        "name": dataset.name,
        "description": dataset.description,
        "datasetType": "DATASET",
        "shared": dataset.shared,
        "permission": dataset.permission,
        "attributes": _attributes(
            where.absolute, name, is_dir=True, size=0, modified=dataset.created_at
        ),
    }


def _inode_item(where: SdkPath, entry: FileEntry) -> dict[str, Any]:
    return {
        "type": "inodeDTO",
        "attributes": _attributes(
            where.child(entry.name),
            entry.name,
            is_dir=entry.type == "dir",
            size=entry.size,
            modified=entry.modified,
        ),
    }


def _find_dataset(rt: Runtime, user: User, where: SdkPath) -> DatasetRead:
    for dataset in dataset_service.list_datasets(rt, user=user, project=where.project):
        if dataset.name == where.dataset:
            return dataset
    raise NotFound(f"dataset '{where.dataset}' not found in project '{where.project}'")


# where the SDK reads an execution's logs (sdk_compat/jobs.py points `stdoutPath` here)
_EXECUTION_LOG = re.compile(r"^([^/]+)/([0-9]{1,18})/(stdout|stderr)\.log$")


def _execution_log(rt: Runtime, user: User, where: SdkPath) -> bytes | None:
    """An execution's log read as the jobs API reads it, so that whoever may run jobs (a
    data scientist too, who may download no file) reads the logs `download_logs()` asks
    for; None when the path is no execution's log (then it is an ordinary file)."""
    match = _EXECUTION_LOG.match(where.rest) if where.dataset == "Logs" else None
    if match is None:
        return None
    job, execution_id, stream = match.groups()
    try:
        return job_service.read_log(
            rt, user=user, project=where.project, job=job,
            execution_id=int(execution_id), stream=Stream(stream),
        )  # fmt: skip
    except NotFound:
        return None


def metadata(rt: Runtime, user: User, where: SdkPath) -> dict[str, Any]:
    """`{"attributes": {...}}` of a file or directory; a dataset adds its `datasetType`."""
    if (log := _execution_log(rt, user, where)) is not None:
        name = where.rest.rsplit("/", 1)[-1]
        return {
            "attributes": _attributes(
                where.absolute, name, is_dir=False, size=len(log), modified=None
            )
        }
    if not where.dataset:
        return {
            "attributes": _attributes(
                where.absolute, where.project, is_dir=True, size=0, modified=None
            )
        }
    info = files.inspect(
        rt, user=user, project=where.project, dataset=where.dataset, path=where.rest
    )
    if not where.rest:
        return _dataset_item(where.project, _find_dataset(rt, user, where))
    name = where.rest.rsplit("/", 1)[-1]
    if info is None:
        return {"attributes": _attributes(where.absolute, name, is_dir=True, size=0, modified=None)}
    return {
        "attributes": _attributes(
            where.absolute, name, is_dir=False, size=info.size, modified=info.modified
        )
    }


def _descending(sort_by: str | None) -> bool:
    """The SDK sorts by ID (no ids here: name order stands in) or NAME; `:desc` reverses."""
    return bool(sort_by) and sort_by.lower().endswith(":desc")


def _page(
    rt: Runtime, user: User, where: SdkPath, offset: int, limit: int
) -> tuple[int, list[FileEntry]]:
    """`limit` entries from `offset`, in the platform's (name) order, in pages it serves."""
    entries: list[FileEntry] = []
    total = 0
    while True:
        step = PageParams(limit=max(1, min(LISTING_PAGE, limit - len(entries))), offset=offset)
        listed = files.read(
            rt,
            user=user,
            project=where.project,
            dataset=where.dataset,
            path=where.rest,
            page=step,
        )
        assert isinstance(listed, DirectoryListing)
        total = listed.total
        entries += listed.items
        offset += len(listed.items)
        if not listed.items or len(entries) >= limit or offset >= total:
            return total, entries[:limit]


def listing(
    rt: Runtime, user: User, where: SdkPath, offset: int, limit: int, sort_by: str | None
) -> dict[str, Any]:
    descending = _descending(sort_by)
    if not where.dataset:
        datasets = dataset_service.list_datasets(rt, user=user, project=where.project)
        if descending:
            datasets.reverse()
        window = datasets[offset : offset + limit]
        return {
            "count": len(datasets),
            "items": [_dataset_item(where.project, d) for d in window],
        }
    info = files.inspect(
        rt, user=user, project=where.project, dataset=where.dataset, path=where.rest
    )
    if info is not None:
        raise BadRequest(f"'{where.absolute}' is a file, not a directory", code="not_a_directory")
    if descending:
        total, _ = _page(rt, user, where, 0, 1)
        start, stop = max(0, total - offset - limit), max(0, total - offset)
        _, entries = _page(rt, user, where, start, stop - start) if stop > start else (total, [])
        entries.reverse()
    else:
        total, entries = _page(rt, user, where, offset, limit)
    return {"count": total, "items": [_inode_item(where, e) for e in entries]}


def make_directory(rt: Runtime, user: User, where: SdkPath) -> dict[str, Any]:
    """A top-level path makes a dataset, a deeper one a directory (parents too)."""
    if not where.dataset:
        raise BadRequest("give a path inside the project to create", code="bad_path")
    if not where.rest:
        if SHARED_SEPARATOR in where.dataset:
            raise Conflict(f"dataset '{where.dataset}' already exists", code="already_exists")
        dataset_service.create(
            rt, user=user, project=where.project, data=_dataset_create(where.dataset)
        )
    else:
        files.make_directory(
            rt, user=user, project=where.project, dataset=where.dataset, path=where.rest
        )
    name = (where.rest or where.dataset).rsplit("/", 1)[-1]
    return {"attributes": _attributes(where.absolute, name, is_dir=True, size=0, modified=None)}


def _dataset_create(name: str) -> DatasetCreate:
    try:
        return DatasetCreate(name=name)
    except ValueError as exc:
        raise BadRequest(f"'{name}' is not a valid dataset name", code="bad_path") from exc


def remove(rt: Runtime, user: User, where: SdkPath) -> None:
    if not where.dataset:
        raise BadRequest("a project is removed as a project, not as a path", code="bad_path")
    if not where.rest:
        dataset_service.delete(rt, user=user, project=where.project, dataset=where.dataset)
    else:
        files.delete(rt, user=user, project=where.project, dataset=where.dataset, path=where.rest)


Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
Limit = Annotated[int, Query(ge=0, le=MAX_LISTING)]


@router.get(BASE + "/download/with_auth/{path:path}", name="file.read")
def download(project: SdkProject, path: str, user: CurrentUser, rt: RuntimeDep) -> Response:
    """The file's bytes, streamed (audited as a platform download: same route name)."""
    where = parse(project, path)
    if not where.rest:
        raise BadRequest(f"'{where.absolute}' is a directory, not a file", code="not_a_file")
    if (log := _execution_log(rt, user, where)) is not None:
        name = where.rest.rsplit("/", 1)[-1]
        return Response(
            log,
            media_type="application/octet-stream",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    result = files.read(
        rt, user=user, project=where.project, dataset=where.dataset, path=where.rest
    )
    if isinstance(result, DirectoryListing):
        raise BadRequest(f"'{where.absolute}' is a directory, not a file", code="not_a_file")
    quoted = result.name.replace('"', "")
    return StreamingResponse(
        result.chunks,
        media_type="application/octet-stream",
        headers={
            "Content-Length": str(result.size),
            "Content-Disposition": f'attachment; filename="{quoted}"',
        },
    )


@dataclass(frozen=True)
class FlowChunk:
    """One flow.js request's fields (as the SDK sends them)."""

    number: int
    chunk_size: int
    total_size: int
    total_chunks: int
    identifier: str
    filename: str


def _decimal(value: object) -> int | None:
    """A non-negative decimal integer as sent (ASCII digits only), else None."""
    if not isinstance(value, str) or not (value.isascii() and value.isdigit()):
        return None
    return int(value)


def _form_int(form: Any, name: str, low: int = 0, high: int = MAX_FLOW_SIZE) -> int:
    value = _decimal(form.get(name))
    if value is None or not low <= value <= high:
        raise BadRequest(
            f"flow.js field '{name}' must be an integer from {low} to {high}", code="bad_upload"
        )
    return value


def _flow_chunk(form: Any) -> FlowChunk:
    identifier, filename = form.get("flowIdentifier"), form.get("flowFilename")
    if not isinstance(identifier, str) or not identifier:
        raise BadRequest("flow.js field 'flowIdentifier' is missing", code="bad_upload")
    if not isinstance(filename, str) or not filename or "/" in filename:
        raise BadRequest("flow.js field 'flowFilename' must be a file name", code="bad_upload")
    return FlowChunk(
        number=_form_int(form, "flowChunkNumber", 1, MAX_FLOW_CHUNKS),
        chunk_size=_form_int(form, "flowChunkSize", 1),
        total_size=_form_int(form, "flowTotalSize"),
        total_chunks=_form_int(form, "flowTotalChunks", 0, MAX_FLOW_CHUNKS),
        identifier=identifier,
        filename=filename,
    )


def _blocks(upload: UploadFile) -> Iterator[bytes]:
    upload.file.seek(0)
    while block := upload.file.read(READ_BLOCK):
        yield block


def store_chunk(
    rt: Runtime, user: User, where: SdkPath, flow: FlowChunk, content: UploadFile
) -> dict[str, Any]:
    """Store one chunk in the upload session the file's identifier names, and publish the
    file when this chunk completes the set. When two last chunks land together both see
    the set complete: one publishes, the other finds it being (or already) published and
    answers at once; the SDK's upload returns when all its chunk requests have, so after
    the file is there (or with the publishing chunk's error)."""
    if not where.dataset:
        raise BadRequest("upload into a dataset of the project", code="bad_path")
    target = f"{where.rest}/{flow.filename}" if where.rest else flow.filename
    session = uploads.create_session(
        rt,
        user=user,
        project=where.project,
        dataset=where.dataset,
        path=target,
        size=flow.total_size,
        chunk_size=flow.chunk_size,
        total_chunks=max(1, flow.total_chunks),
        client_key=flow.identifier,
    )
    received = uploads.put_chunk(
        rt,
        user=user,
        project=where.project,
        session_id=session.id,
        number=flow.number,
        chunks=_blocks(content),
    ).received
    if received < session.total_chunks:
        return {"received": received}
    try:
        result = uploads.complete(rt, user=user, project=where.project, session_id=session.id)
    except uploads.UploadCompleting:
        return {"received": received}  # a sibling chunk is publishing the file
    except NotFound:
        if not _published(rt, user, where, target, flow.total_size):
            raise
        return {"received": received}  # a sibling chunk published it
    return {"path": SdkPath(where.project, where.dataset, result.path).absolute}


def _published(rt: Runtime, user: User, where: SdkPath, target: str, size: int) -> bool:
    try:
        info = files.inspect(
            rt, user=user, project=where.project, dataset=where.dataset, path=target
        )
    except AppError:
        return False
    return info is not None and info.size == size


@router.post(BASE + "/upload/{path:path}", name="file.upload")
async def upload_chunk(
    project: SdkProject, path: str, request: Request, user: CurrentUser, rt: RuntimeDep
) -> dict[str, Any]:
    """One flow.js chunk into directory `path` (named `file.upload` as the platform's
    upload route: bounded by the chunk size checked here and the quota, not the JSON body
    limit)."""
    declared = _decimal(request.headers.get("content-length"))
    if declared is None:
        raise LengthRequired("a flow.js chunk must declare its Content-Length")
    if declared > MAX_CHUNK_BODY:
        raise BadRequest(f"a chunk request is at most {MAX_CHUNK_BODY} bytes", code="bad_upload")
    where = parse(project, path)
    async with request.form(max_files=1, max_fields=32) as form:
        content = form.get("file")
        if not isinstance(content, UploadFile):
            raise BadRequest("the chunk's bytes go in the multipart part 'file'", code="bad_upload")
        flow = _flow_chunk(form)
        return await anyio.to_thread.run_sync(store_chunk, rt, user, where, flow, content)


@router.get(BASE + "/{path:path}", name="sdk.dataset.read")
def read(
    project: SdkProject,
    path: str,
    user: CurrentUser,
    rt: RuntimeDep,
    action: str | None = None,
    offset: Offset = 0,
    limit: Limit = 1000,
    sort_by: str | None = None,
) -> dict[str, Any]:
    """Metadata (no `action`, or `stat`), or one page of a listing (`action=listing`)."""
    where = parse(project, path)
    kind = (action or "stat").lower()
    if kind == "listing":
        return listing(rt, user, where, offset, limit, sort_by)
    if kind == "stat":
        return metadata(rt, user, where)
    raise BadRequest(f"dataset action '{action}' is not supported here", code="not_supported")


@router.post(BASE + "/{path:path}", status_code=status.HTTP_201_CREATED, name="sdk.dataset.create")
def create(
    project: SdkProject, path: str, user: CurrentUser, rt: RuntimeDep, action: str | None = None
) -> dict[str, Any]:
    """`action=create` makes the directory (or dataset); the SDK's other actions (copy,
    move, zip, unzip, share) are not offered."""
    if (action or "").lower() != "create":
        raise BadRequest(f"dataset action '{action}' is not supported here", code="not_supported")
    return make_directory(rt, user, parse(project, path))


@router.delete(
    BASE + "/{path:path}", status_code=status.HTTP_204_NO_CONTENT, name="sdk.dataset.delete"
)
def delete(project: SdkProject, path: str, user: CurrentUser, rt: RuntimeDep) -> None:
    remove(rt, user, parse(project, path))
