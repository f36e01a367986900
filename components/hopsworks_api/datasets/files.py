"""File use cases inside a dataset: list, download (whole or one byte range), streamed
upload, make a directory, delete.

Uploads reserve quota before writing (all of a declared Content-Length up front, or in
steps for chunked bodies), write to a hidden temporary file, and publish it with one
rename; any failure releases the reservation and removes the temporary file.

What an upload holds is a durable `UploadReservation` row, found again by its id: the
upload publishes only in a transaction that holds the dataset's row lock and still finds
the dataset (by id) and its reservation, so an upload racing a deletion of its dataset or
project, or reaped after going idle, fails and leaves nothing behind. Downloads check
between batches of chunks that the dataset is still there, and stop if it was deleted.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio
from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from hopsworks_api import authz
from hopsworks_api.authz import Action, ProjectAccess
from hopsworks_api.backends.storage import EntryInfo, PendingWrite, validate_relative_path
from hopsworks_api.datasets import ranges
from hopsworks_api.datasets import service as dataset_service
from hopsworks_api.datasets.models import (
    Dataset,
    DirectoryListing,
    FileEntry,
    UploadReservation,
    UploadResult,
)
from hopsworks_api.datasets.ranges import ByteRange, RangeRequest
from hopsworks_api.datasets.service import DatasetRef
from hopsworks_api.datasets.upload_models import UploadSession
from hopsworks_api.db.base import utcnow
from hopsworks_api.db.driver_reads import read_cursor
from hopsworks_api.errors import AppError, BadRequest, Conflict, Forbidden, NotFound
from hopsworks_api.projects import service as project_service
from hopsworks_api.projects.models import Project
from hopsworks_api.quotas import service as quota_service
from hopsworks_api.runtime import Runtime
from hopsworks_api.schemas import PageParams
from hopsworks_api.users.models import User

log = logging.getLogger(__name__)

RESERVATION_STEP = 8 * 1024 * 1024
JOIN_LIMIT = 1024 * 1024
DOWNLOAD_BATCH = 4 * 1024 * 1024
"""A download reads this much from storage per worker-thread trip (and per check that
its dataset is still there)."""
STALE_AFTER_IDLE_TIMEOUTS = 2
"""A reservation whose heartbeat is older than this many idle timeouts belongs to an
upload that can no longer be alive (its own idle timeout would have ended it)."""


class UploadTimeout(AppError):
    """The client stopped sending, or the upload was idle so long its quota was released."""

    status_code, code = 408, "upload_timeout"


class DownloadInterrupted(Exception):
    """Raised inside a download's body: the dataset went away while it streamed."""


@dataclass(frozen=True)
class FileInfo:
    """What HEAD and a download's headers say about a file."""

    name: str
    size: int
    modified: datetime

    @property
    def etag(self) -> str:
        return ranges.etag(self.size, self.modified)

    @property
    def last_modified(self) -> str:
        return ranges.last_modified(self.modified)


@dataclass
class FileDownload:
    info: FileInfo
    chunks: AsyncIterator[bytes]
    range: ByteRange | None = None
    """The part being sent (206), or None for the whole file (200)."""

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def size(self) -> int:
        """How many bytes this download sends."""
        return self.info.size if self.range is None else self.range.length


def _require_write(access: ProjectAccess, ref: DatasetRef, dataset: str) -> None:
    authz.require(access, authz.write_action(ref.name, shared=ref.shared))
    if not ref.writable:
        raise Forbidden(f"dataset '{dataset}' is shared with '{access.project}' read-only")


def _locate(
    rt: Runtime, user: User, project: str, dataset: str, path: str
) -> tuple[DatasetRef, tuple[str, ...], EntryInfo]:
    """The entry at `path`, after the checks that decide who may see it: a directory
    (data scientists too) or a file (its bytes: data owners only)."""
    parts = validate_relative_path(path)
    with read_cursor(rt.engine) as reads:
        access = dataset_service.member_access(reads, project=project, user=user)
        ref = dataset_service.resolve(reads, access, dataset)
        authz.require(access, Action.LIST_FILES)
        info = rt.backends.storage.stat(ref.owner_project, ref.name, parts)
        if info is None:
            raise NotFound(f"no file or directory '{path}' in dataset '{dataset}'")
        if not info.is_dir:
            authz.require(access, Action.DOWNLOAD)
    return ref, parts, info


def _file_info(parts: tuple[str, ...], info: EntryInfo) -> FileInfo:
    return FileInfo(name=parts[-1], size=info.size, modified=info.modified)


def inspect(rt: Runtime, *, user: User, project: str, dataset: str, path: str) -> FileInfo | None:
    """What HEAD answers: the file's metadata, or None for a directory. Allowed exactly
    when a GET of the same path would be."""
    _ref, parts, info = _locate(rt, user, project, dataset, path)
    return None if info.is_dir else _file_info(parts, info)


def read(
    rt: Runtime,
    *,
    user: User,
    project: str,
    dataset: str,
    path: str,
    page: PageParams | None = None,
    ranged: RangeRequest | None = None,
) -> DirectoryListing | FileDownload:
    """A directory lists one page of its entries; a file downloads whole, or the one byte
    range `ranged` asks for (see `ranges.select`), streamed from that offset."""
    ref, parts, info = _locate(rt, user, project, dataset, path)
    storage = rt.backends.storage
    if info.is_dir:
        page = page or PageParams()
        entries = storage.list_dir(ref.owner_project, ref.name, parts)
        return DirectoryListing(
            dataset=dataset,
            path="/".join(parts),
            items=[
                FileEntry(
                    name=e.name,
                    type="dir" if e.is_dir else "file",
                    size=e.size,
                    modified=e.modified,
                )
                for e in entries[page.offset : page.offset + page.limit]
            ],
            total=len(entries),
            limit=page.limit,
            offset=page.offset,
        )
    file = _file_info(parts, info)
    chosen = ranges.select(ranged or RangeRequest(), file.size, file.modified)
    if chosen is None:
        chunks = storage.open_read(ref.owner_project, ref.name, parts)
    else:
        chunks = storage.open_read(
            ref.owner_project, ref.name, parts, offset=chosen.start, length=chosen.length
        )
    return FileDownload(info=file, chunks=_guarded(rt, ref, chunks), range=chosen)


async def _guarded(rt: Runtime, ref: DatasetRef, chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Serve the chunks only while the dataset (by id), and the share it was reached
    through, still exist: an open file keeps its bytes after a deletion moved it away,
    and the next owner of the name must not find them still flowing to the last one.

    The storage is read in a worker thread, `DOWNLOAD_BATCH` bytes per trip, and the check
    is made after each batch is read and before any of it is sent. An async iterator, so
    that the response sends it as it is (one thread trip per batch, not per chunk)."""
    try:
        while batch := await anyio.to_thread.run_sync(_next_batch, rt, ref, chunks):
            for chunk in batch:
                yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(close)


def _next_batch(rt: Runtime, ref: DatasetRef, chunks: Iterator[bytes]) -> list[bytes]:
    """The next chunks, about `DOWNLOAD_BATCH` bytes of them (none at the end), once the
    dataset is found still reachable after they were read."""
    batch: list[bytes] = []
    size = 0
    for chunk in chunks:
        batch.append(chunk)
        size += len(chunk)
        if size >= DOWNLOAD_BATCH:
            break
    if not batch:
        return batch
    with rt.read_sessions() as session:
        if not dataset_service.still_reachable(session, ref):
            log.warning(
                "download stopped: dataset deleted",
                extra={"project": ref.owner_project, "dataset": ref.name},
            )
            raise DownloadInterrupted("the dataset was deleted during the download")
    return batch


def store(writer: PendingWrite, chunks: Sequence[bytes]) -> None:
    """Hand the chunks to the storage's writer: all at once where it takes several (the
    local one, with writev: nothing is joined), else joined into pieces of at most
    `JOIN_LIMIT` bytes (WebHDFS queues each piece it is given: its memory stays as it was)."""
    many = getattr(writer, "write_many", None)
    if many is not None:
        many(chunks)
        return
    group: list[bytes] = []
    size = 0
    for chunk in chunks:
        if group and size + len(chunk) > JOIN_LIMIT:
            writer.write(group[0] if len(group) == 1 else b"".join(group))
            group, size = [], 0
        group.append(chunk)
        size += len(chunk)
    if group:
        writer.write(group[0] if len(group) == 1 else b"".join(group))


class Upload:
    """One streamed upload; drive it with write(...) then finish() or abort().

    Every transaction here locks the owner project's row (shared) first, then the dataset,
    then the reservation, then the quota: the order deletions take them in."""

    def __init__(
        self,
        rt: Runtime,
        ref: DatasetRef,
        dataset: str,
        parts: tuple[str, ...],
        declared: int | None,
        writer: PendingWrite,
        reservation_id: int,
        reserved: int,
    ) -> None:
        self._rt = rt
        self._ref = ref
        self._dataset = dataset
        self._parts = parts
        self._declared = declared
        self._writer = writer
        self.reservation_id = reservation_id
        self._reserved = reserved
        self._done = False

    def _reservation(self, session: Session) -> UploadReservation:
        """The upload's reservation, locked; raises if the upload may no longer land.

        The project's lock is the transaction's first statement, and every read after it
        is a locking read (dataset, share, reservation, quota) or an UPDATE: none can see a
        snapshot from before a deletion that committed while this waited."""
        project_service.lock(session, self._ref.owner_project_id)
        if not dataset_service.still_reachable(session, self._ref, lock=True):
            raise NotFound(
                f"dataset '{self._dataset}' was deleted, or its share ended, during the upload"
            )
        row = session.scalar(
            select(UploadReservation)
            .where(UploadReservation.id == self.reservation_id)
            .with_for_update()
        )
        if row is None:
            raise UploadTimeout("the upload was idle too long; its quota reservation was released")
        return row

    def write(self, chunk: bytes) -> None:
        self.write_many((chunk,))

    def write_many(self, chunks: Sequence[bytes]) -> None:
        """Store the chunks in order: the quota is checked (and a step taken if needed)
        once for all of them, before any is stored."""
        needed = self._writer.written + sum(len(chunk) for chunk in chunks)
        if self._declared is not None and needed > self._declared:
            raise BadRequest("request body is longer than its Content-Length")
        if needed > self._reserved:
            with self._rt.sessions() as session:
                row = self._reservation(session)
                step = quota_service.take_step(
                    session,
                    project_id=self._ref.owner_project_id,
                    project=self._ref.owner_project,
                    needed=needed - row.bytes,
                    preferred=RESERVATION_STEP,
                )
                row.bytes += step
                row.updated_at = utcnow()
                session.commit()
                self._reserved = row.bytes
        store(self._writer, chunks)

    def touch(self) -> None:
        """The heartbeat that tells the reaper this upload is alive."""
        with self._rt.sessions() as session:
            session.execute(
                update(UploadReservation)
                .where(UploadReservation.id == self.reservation_id)
                .values(updated_at=utcnow())
            )
            session.commit()

    def finish(self) -> UploadResult:
        """Publish in one transaction with the checks that the upload may still land."""
        written = self._writer.written
        if self._declared is not None and written != self._declared:
            raise BadRequest(f"request body ended after {written} of {self._declared} bytes")
        self._writer.seal()
        rt, ref = self._rt, self._ref
        with rt.sessions() as session:
            row = self._reservation(session)
            existing = rt.backends.storage.stat(ref.owner_project, ref.name, self._parts)
            if existing is not None and existing.is_dir:
                raise Conflict(f"'{'/'.join(self._parts)}' is a directory")
            new_file = existing is None
            # a replacement is not a new file: only a new one needs a file of the quota
            if int(new_file) > row.files:
                quota_service.take(
                    session,
                    project_id=ref.owner_project_id,
                    project=ref.owner_project,
                    size=0,
                    files=int(new_file) - row.files,
                )
            held_bytes, held_files = row.bytes, max(row.files, int(new_file))
            session.delete(row)
            session.flush()
            replaced = self._writer.commit()
            self._done = True
            quota_service.adjust(
                session,
                project_id=ref.owner_project_id,
                size=written - held_bytes - (replaced or 0),
                files=int(replaced is None) - held_files,
            )
            try:
                session.commit()
            except BaseException:
                session.rollback()
                self._settle_published(written, replaced)
                raise
        return UploadResult(dataset=self._dataset, path="/".join(self._parts), size=written)

    def _settle_published(self, written: int, replaced: int | None) -> None:
        """The file was published but the commit failed: release the reservation and count
        the file as it now is, so the counters still follow the bytes."""
        try:
            with self._rt.sessions() as session:
                project_id = self._ref.owner_project_id
                row = session.get(UploadReservation, self.reservation_id, with_for_update=True)
                held = (row.bytes, row.files) if row is not None else (0, 0)
                if row is not None:
                    session.delete(row)
                quota_service.adjust(
                    session,
                    project_id=project_id,
                    size=written - (replaced or 0) - held[0],
                    files=int(replaced is None) - held[1],
                )
                session.commit()
        except Exception:
            log.exception("could not account a published upload", extra={"path": self._parts})

    def abort(self) -> None:
        """Remove every trace of the upload and give back what it reserved (unless someone
        else already did: a deletion of the dataset, or the reaper)."""
        if self._done:
            return
        self._done = True
        self._writer.abort()
        release(self._rt, self.reservation_id, self._ref.owner_project_id)


def release(
    rt: Runtime, reservation_id: int, project_id: int, before: datetime | None = None
) -> bool:
    """Give back one reservation exactly once: whoever deletes its row returns its quota in
    the same transaction. `before`: only if its heartbeat is older (the reaper)."""
    with rt.sessions() as session:
        project_service.lock(session, project_id)
        query = select(UploadReservation).where(UploadReservation.id == reservation_id)
        if before is not None:
            query = query.where(UploadReservation.updated_at < before)
        row = session.scalar(query.with_for_update())
        if row is None:
            return False
        quota_service.adjust(session, project_id=project_id, size=-row.bytes, files=-row.files)
        session.delete(row)
        session.commit()
        return True


def reap_abandoned_uploads(rt: Runtime, *, now: datetime | None = None) -> int:
    """Release the reservations of uploads that stopped sending long ago, e.g. because the
    process serving them died, and remove their temporary files. Returns how many."""
    idle = timedelta(seconds=rt.settings.upload_idle_timeout_seconds)
    before = (now or utcnow()) - idle * STALE_AFTER_IDLE_TIMEOUTS
    with rt.read_sessions() as session:
        stale = session.execute(
            select(
                UploadReservation.id,
                UploadReservation.project_id,
                UploadReservation.token,
                Project.name,
                Dataset.name,
            )
            .join(Project, Project.id == UploadReservation.project_id)
            .join(Dataset, Dataset.id == UploadReservation.dataset_id)
            .where(UploadReservation.updated_at < before)
            # a resumable session's reservation lives as long as the session (uploads.py)
            .where(~exists().where(UploadSession.reservation_id == UploadReservation.id))
        ).all()
    reaped = 0
    for reservation_id, project_id, token, project, dataset in stale:
        if release(rt, reservation_id, project_id, before):
            reaped += 1
            rt.backends.storage.discard_upload(project, dataset, token)
            log.warning(
                "released the reservation of an abandoned upload",
                extra={"project": project, "dataset": dataset},
            )
    return reaped


def _locked_for_write(session: Session, *, user: User, project: str, dataset: str) -> DatasetRef:
    """The dataset the caller may write, with the project's row locked (shared) and the
    dataset's (and share's) rows locked: nothing is written into a dataset whose deletion
    has committed. The reads before the locks (plain) fix MariaDB's snapshot; that is safe
    because whatever decides after them is a locking read (the dataset and share, by id)
    or an UPDATE or INSERT (quota, reservation), which see the latest rows."""
    access = dataset_service.member_access(session, project=project, user=user)
    ref = dataset_service.resolve(session, access, dataset)
    _require_write(access, ref, dataset)
    project_service.lock(session, ref.owner_project_id)
    if not dataset_service.still_reachable(session, ref, lock=True):
        raise NotFound(f"dataset '{dataset}' not found in project '{project}'")
    return ref


def begin_upload(
    rt: Runtime, *, user: User, project: str, dataset: str, path: str, declared: int | None
) -> Upload:
    parts = validate_relative_path(path)
    if not parts:
        raise BadRequest("give a file path inside the dataset to upload to", code="bad_path")
    if declared is not None and declared < 0:
        raise BadRequest("Content-Length must not be negative")
    token = uuid.uuid4().hex
    with rt.sessions() as session:
        ref = _locked_for_write(session, user=user, project=project, dataset=dataset)
        existing = rt.backends.storage.stat(ref.owner_project, ref.name, parts)
        if existing is not None and existing.is_dir:
            raise Conflict(f"'{path}' is a directory")
        reserved = declared or 0
        files = 0 if existing is not None else 1  # replacing a file adds none
        quota_service.take(
            session,
            project_id=ref.owner_project_id,
            project=ref.owner_project,
            size=reserved,
            files=files,
        )
        row = UploadReservation(
            project_id=ref.owner_project_id,
            dataset_id=ref.dataset_id,
            token=token,
            bytes=reserved,
            files=files,
        )
        session.add(row)
        session.commit()
    try:
        writer = rt.backends.storage.begin_write(ref.owner_project, ref.name, parts, token=token)
    except BaseException:
        release(rt, row.id, ref.owner_project_id)
        raise
    return Upload(rt, ref, dataset, parts, declared, writer, row.id, reserved)


def make_directory(rt: Runtime, *, user: User, project: str, dataset: str, path: str) -> str:
    """Create an empty directory (and its missing parents); returns its path in the
    dataset. Same permission as an upload to that path; no quota: a directory holds no
    bytes and is no file."""
    parts = validate_relative_path(path)
    if not parts:
        raise BadRequest("give a directory path inside the dataset", code="bad_path")
    with rt.sessions() as session:
        ref = _locked_for_write(session, user=user, project=project, dataset=dataset)
        rt.backends.storage.make_dir(ref.owner_project, ref.name, parts)
        session.commit()
    return "/".join(parts)


def delete(rt: Runtime, *, user: User, project: str, dataset: str, path: str) -> None:
    parts = validate_relative_path(path)
    if not parts:
        raise BadRequest("to delete a whole dataset, DELETE the dataset itself", code="bad_path")
    with rt.sessions() as session:
        ref = _locked_for_write(session, user=user, project=project, dataset=dataset)
        size, files = rt.backends.storage.delete_path(ref.owner_project, ref.name, parts)
        quota_service.adjust(session, project_id=ref.owner_project_id, size=-size, files=-files)
        session.commit()
