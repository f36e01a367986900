"""File use cases inside a dataset: list, download, streamed upload, delete.

Uploads reserve quota before writing (all of a declared Content-Length up front, or in
steps for chunked bodies), write to a hidden temporary file, and publish it with one
rename; any failure releases the reservation and removes the temporary file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from hopsworks_api import authz
from hopsworks_api.authz import Action, ProjectAccess
from hopsworks_api.backends.storage import PendingWrite, validate_relative_path
from hopsworks_api.datasets import service as dataset_service
from hopsworks_api.datasets.models import DirectoryListing, FileEntry, UploadResult
from hopsworks_api.datasets.service import DatasetRef
from hopsworks_api.errors import BadRequest, Conflict, Forbidden, NotFound
from hopsworks_api.quotas import service as quota_service
from hopsworks_api.runtime import Runtime
from hopsworks_api.users.models import User

RESERVATION_STEP = 8 * 1024 * 1024


@dataclass
class FileDownload:
    name: str
    size: int
    chunks: Iterator[bytes]


def _require_write(access: ProjectAccess, ref: DatasetRef, dataset: str) -> None:
    authz.require(access, authz.write_action(ref.name, shared=ref.shared))
    if not ref.writable:
        raise Forbidden(f"dataset '{dataset}' is shared with '{access.project}' read-only")


def read(
    rt: Runtime, *, user: User, project: str, dataset: str, path: str
) -> DirectoryListing | FileDownload:
    """A directory lists (data scientists too); a file downloads (data owners only)."""
    parts = validate_relative_path(path)
    with rt.read_sessions() as session:
        access = dataset_service.member_access(session, project=project, user=user)
        ref = dataset_service.resolve(session, access, dataset)
        authz.require(access, Action.LIST_FILES)
        info = rt.storage.stat(ref.owner_project, ref.name, parts)
        if info is None:
            raise NotFound(f"no file or directory '{path}' in dataset '{dataset}'")
        if info.is_dir:
            entries = rt.storage.list_dir(ref.owner_project, ref.name, parts)
            return DirectoryListing(
                dataset=dataset,
                path="/".join(parts),
                entries=[
                    FileEntry(
                        name=e.name,
                        type="dir" if e.is_dir else "file",
                        size=e.size,
                        modified=e.modified,
                    )
                    for e in entries
                ],
            )
        authz.require(access, Action.DOWNLOAD)
    return FileDownload(
        name=parts[-1],
        size=info.size,
        chunks=rt.storage.open_read(ref.owner_project, ref.name, parts),
    )


class Upload:
    """One streamed upload; drive it with write(...) then finish() or abort()."""

    def __init__(
        self,
        rt: Runtime,
        ref: DatasetRef,
        dataset: str,
        parts: tuple[str, ...],
        declared: int | None,
        writer: PendingWrite,
        reserved: int,
    ) -> None:
        self._rt = rt
        self._ref = ref
        self._dataset = dataset
        self._parts = parts
        self._declared = declared
        self._writer = writer
        self._reserved = reserved
        self._done = False

    def _reserve(self, size: int, files: int) -> None:
        with self._rt.sessions() as session:
            quota_service.reserve(
                session,
                project_id=self._ref.owner_project_id,
                project=self._ref.owner_project,
                size=size,
                files=files,
            )

    def write(self, chunk: bytes) -> None:
        needed = self._writer.written + len(chunk)
        if self._declared is not None and needed > self._declared:
            raise BadRequest("request body is longer than its Content-Length")
        if needed > self._reserved:
            step = max(RESERVATION_STEP, needed - self._reserved)
            self._reserve(step, 0)
            self._reserved += step
        self._writer.write(chunk)

    def finish(self) -> UploadResult:
        written = self._writer.written
        if self._declared is not None and written != self._declared:
            raise BadRequest(f"request body ended after {written} of {self._declared} bytes")
        replaced = self._writer.commit()
        self._done = True
        with self._rt.sessions() as session:
            quota_service.adjust(
                session,
                project_id=self._ref.owner_project_id,
                size=written - self._reserved - (replaced or 0),
                files=0 if replaced is None else -1,
            )
            session.commit()
        return UploadResult(dataset=self._dataset, path="/".join(self._parts), size=written)

    def abort(self) -> None:
        """Remove every trace of the upload and give back what it reserved."""
        if self._done:
            return
        self._done = True
        self._writer.abort()
        with self._rt.sessions() as session:
            quota_service.adjust(
                session, project_id=self._ref.owner_project_id, size=-self._reserved, files=-1
            )
            session.commit()


def begin_upload(
    rt: Runtime, *, user: User, project: str, dataset: str, path: str, declared: int | None
) -> Upload:
    parts = validate_relative_path(path)
    if not parts:
        raise BadRequest("give a file path inside the dataset to upload to", code="bad_path")
    if declared is not None and declared < 0:
        raise BadRequest("Content-Length must not be negative")
    with rt.sessions() as session:
        access = dataset_service.member_access(session, project=project, user=user)
        ref = dataset_service.resolve(session, access, dataset)
        _require_write(access, ref, dataset)
        existing = rt.storage.stat(ref.owner_project, ref.name, parts)
        if existing is not None and existing.is_dir:
            raise Conflict(f"'{path}' is a directory")
        reserved = declared or 0
        quota_service.reserve(
            session,
            project_id=ref.owner_project_id,
            project=ref.owner_project,
            size=reserved,
            files=1,
        )
    try:
        writer = rt.storage.begin_write(ref.owner_project, ref.name, parts)
    except BaseException:
        with rt.sessions() as session:
            quota_service.adjust(session, project_id=ref.owner_project_id, size=-reserved, files=-1)
            session.commit()
        raise
    return Upload(rt, ref, dataset, parts, declared, writer, reserved)


def delete(rt: Runtime, *, user: User, project: str, dataset: str, path: str) -> None:
    parts = validate_relative_path(path)
    if not parts:
        raise BadRequest("to delete a whole dataset, DELETE the dataset itself", code="bad_path")
    with rt.sessions() as session:
        access = dataset_service.member_access(session, project=project, user=user)
        ref = dataset_service.resolve(session, access, dataset)
        _require_write(access, ref, dataset)
        size, files = rt.storage.delete_path(ref.owner_project, ref.name, parts)
        quota_service.adjust(session, project_id=ref.owner_project_id, size=-size, files=-files)
        session.commit()
