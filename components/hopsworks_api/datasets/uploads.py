"""Resumable upload sessions: a file sent as numbered chunks, in any order and in parallel,
over as many requests (and service instances) as the client needs.

The quota for the whole file is reserved when the session is created, with the same
`UploadReservation` a streamed upload holds (datasets.files), so every rule about
reservations (a deleted dataset takes them, the quota counts them) holds here too. Chunks
are stored in the owner project's storage, in a hidden staging area per session
(`<project>/.hops-session-<id>/<n>`, see `staging_area`): every service instance sees
them, listings and dataset usage skip names starting with `.hops-`, and the project's
deletion takes them with its directory. `complete` copies the chunks in order into one
upload of the storage backend (a temporary file, published with one rename) through
`files.Upload`, so the file appears atomically and is published under the same locks and
checks as a streamed upload.

A session ends when it completes, when its creator aborts it, or in the reaper: after
`HOPS_UPLOAD_SESSION_EXPIRY_SECONDS` without a chunk, or once its creator may no longer
write there (account or membership gone, role changed, the dataset or its share gone).
Until then every request re-checks the caller's right to write, so nothing a deleted
user or project held keeps working.
"""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hopsworks_api.backends.storage import PendingWrite, validate_relative_path
from hopsworks_api.backends.storage.base import RESERVED_PREFIX
from hopsworks_api.datasets import files
from hopsworks_api.datasets import service as dataset_service
from hopsworks_api.datasets.models import Dataset, UploadReservation, UploadResult
from hopsworks_api.datasets.service import DatasetRef
from hopsworks_api.datasets.upload_models import (
    DEFAULT_CHUNK_SIZE,
    MAX_CHUNK_SIZE,
    MAX_CLIENT_KEY,
    MAX_FILE_SIZE,
    MIN_CHUNK_SIZE,
    ChunkReceived,
    UploadSession,
    UploadSessionChunk,
    UploadSessionRead,
)
from hopsworks_api.db.base import utcnow
from hopsworks_api.errors import (
    AppError,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
)
from hopsworks_api.projects import service as project_service
from hopsworks_api.projects.models import Project
from hopsworks_api.quotas import service as quota_service
from hopsworks_api.runtime import Runtime
from hopsworks_api.users.models import User

log = logging.getLogger(__name__)

STAGING_PREFIX = f"{RESERVED_PREFIX}session-"
HEARTBEATS_PER_TIMEOUT = 4
MISSING_NAMED = 50


class ChunksMissing(AppError):
    status_code, code = 409, "chunks_missing"


class UploadCompleting(AppError):
    status_code, code = 409, "upload_completing"


def staging_area(session_id: str) -> str:
    """The session's directory beside the owner project's datasets: a name no dataset can
    have (they start with a letter or digit), hidden like every `.hops-` name."""
    return f"{STAGING_PREFIX}{session_id}"


def plan(size: int, chunk_size: int | None, total_chunks: int | None) -> tuple[int, int]:
    """The chunking of a file: every chunk `chunk_size` bytes but the last, which holds the
    rest. Both the usual ceil(size/chunk_size) chunks and flow.js's floor (the last chunk
    up to twice as long) are accepted; at least one chunk, so an empty file has one."""
    if size < 0:
        raise BadRequest("size must not be negative")
    if size > MAX_FILE_SIZE:
        raise PayloadTooLarge(f"a file may have at most {MAX_FILE_SIZE} bytes")
    chunk_size = DEFAULT_CHUNK_SIZE if chunk_size is None else chunk_size
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise BadRequest(f"chunk_size must be between {MIN_CHUNK_SIZE} and {MAX_CHUNK_SIZE}")
    total = max(1, math.ceil(size / chunk_size)) if total_chunks is None else total_chunks
    last = size - (total - 1) * chunk_size
    if total < 1 or not (0 < last < 2 * chunk_size or (size == 0 and total == 1)):
        raise BadRequest(
            f"{total} chunks of {chunk_size} bytes cannot make {size} bytes: every chunk but "
            "the last is chunk_size long, the last holds the rest (less than two chunks)"
        )
    return chunk_size, total


def chunk_length(row: UploadSession, number: int) -> int:
    if not 1 <= number <= row.total_chunks:
        raise BadRequest(f"chunk numbers go from 1 to {row.total_chunks}")
    if number < row.total_chunks:
        return row.chunk_size
    return row.size - (row.total_chunks - 1) * row.chunk_size


def _key_hash(dataset: str, path: str, client_key: str) -> str:
    if not client_key or len(client_key) > MAX_CLIENT_KEY:
        raise BadRequest(f"client_key must have 1 to {MAX_CLIENT_KEY} characters")
    return hashlib.sha256("\x00".join((dataset, path, client_key)).encode()).hexdigest()


def _expiry(rt: Runtime) -> datetime:
    return utcnow() + timedelta(seconds=rt.settings.upload_session_expiry_seconds)


def _read(session: Session, row: UploadSession) -> UploadSessionRead:
    received = session.scalars(
        select(UploadSessionChunk.number)
        .where(UploadSessionChunk.session_id == row.id)
        .order_by(UploadSessionChunk.number)
    ).all()
    return UploadSessionRead(
        id=row.id,
        dataset=row.dataset,
        path=row.path,
        size=row.size,
        chunk_size=row.chunk_size,
        total_chunks=row.total_chunks,
        received=list(received),
        expires_at=row.expires_at,
    )


@dataclass(frozen=True)
class _Facts:
    """What one request learnt of a session, for the storage work after its transaction."""

    id: str
    ref: DatasetRef
    dataset: str
    parts: tuple[str, ...]
    size: int
    chunk_size: int
    total_chunks: int
    overwrite: bool
    reservation_id: int


def _authorized(
    session: Session, *, user: User, project: str, session_id: str, dataset: str | None
) -> tuple[UploadSession, _Facts]:
    """The caller's own live session, if they may still write where it writes: anyone
    else's (or one of another dataset, or of a dataset re-created under its name) is 404."""
    access = dataset_service.member_access(session, project=project, user=user)
    row = session.get(UploadSession, session_id, populate_existing=True)
    missing = NotFound(f"no upload session '{session_id}' in project '{project}'")
    if (
        row is None
        or row.user_id != user.id
        or row.project_id != access.project_id
        or (dataset is not None and row.dataset != dataset)
    ):
        raise missing
    ref = dataset_service.resolve(session, access, row.dataset)
    files._require_write(access, ref, row.dataset)
    if ref.dataset_id != row.dataset_id or row.reservation_id is None:
        raise missing
    facts = _Facts(
        id=row.id,
        ref=ref,
        dataset=row.dataset,
        parts=tuple(row.path.split("/")),
        size=row.size,
        chunk_size=row.chunk_size,
        total_chunks=row.total_chunks,
        overwrite=row.overwrite,
        reservation_id=row.reservation_id,
    )
    return row, facts


def _find_by_key(
    session: Session, *, user: User, project_id: int, key_hash: str
) -> UploadSession | None:
    return session.scalar(
        select(UploadSession).where(
            UploadSession.user_id == user.id,
            UploadSession.project_id == project_id,
            UploadSession.key_hash == key_hash,
        )
    )


def open_session(
    rt: Runtime,
    *,
    user: User,
    project: str,
    dataset: str,
    path: str,
    size: int,
    chunk_size: int | None = None,
    total_chunks: int | None = None,
    overwrite: bool = False,
    client_key: str | None = None,
) -> tuple[UploadSessionRead, bool]:
    """`create_session`, also saying whether the session is new (False: the client's
    earlier session with the same `client_key` and file)."""
    parts = validate_relative_path(path)
    if not parts:
        raise BadRequest("give a file path inside the dataset to upload to", code="bad_path")
    chunk_size, total_chunks = plan(size, chunk_size, total_chunks)
    key_hash = None if client_key is None else _key_hash(dataset, "/".join(parts), client_key)
    session_id = secrets.token_hex(16)
    with rt.read_sessions() as session:
        access = dataset_service.member_access(session, project=project, user=user)
        ref = dataset_service.resolve(session, access, dataset)
        files._require_write(access, ref, dataset)
        earlier = None
        if key_hash is not None:
            row = _find_by_key(session, user=user, project_id=access.project_id, key_hash=key_hash)
            earlier = None if row is None else row.id
    if earlier is not None:
        return _earlier(rt, earlier, user, project, dataset, size, chunk_size, total_chunks)
    with rt.sessions() as session:
        # authorized above; the project's lock first, then only locking reads, UPDATEs and
        # INSERTs decide (as in files.begin_upload)
        if not project_service.lock(session, ref.owner_project_id):
            raise NotFound(f"project '{ref.owner_project}' not found")
        if not dataset_service.still_reachable(session, ref, lock=True):
            raise NotFound(f"dataset '{dataset}' not found in project '{project}'")
        existing = rt.backends.storage.stat(ref.owner_project, ref.name, parts)
        if existing is not None and existing.is_dir:
            raise Conflict(f"'{path}' is a directory")
        if existing is not None and not overwrite:
            raise Conflict(
                f"'{path}' already exists in dataset '{dataset}' (set overwrite to replace it)",
                code="already_exists",
            )
        new_files = 0 if existing is not None else 1
        quota_service.take(
            session,
            project_id=ref.owner_project_id,
            project=ref.owner_project,
            size=size,
            files=new_files,
        )
        reservation = UploadReservation(
            project_id=ref.owner_project_id,
            dataset_id=ref.dataset_id,
            token=session_id,
            bytes=size,
            files=new_files,
        )
        session.add(reservation)
        session.flush()
        row = UploadSession(
            id=session_id,
            user_id=user.id,
            project_id=access.project_id,
            owner_project_id=ref.owner_project_id,
            dataset=dataset,
            dataset_id=ref.dataset_id,
            path="/".join(parts),
            size=size,
            chunk_size=chunk_size,
            total_chunks=total_chunks,
            overwrite=overwrite,
            key_hash=key_hash,
            reservation_id=reservation.id,
            expires_at=_expiry(rt),
        )
        session.add(row)
        try:
            session.flush()
        except IntegrityError:
            # a concurrent first request with the same client_key won the unique key
            session.rollback()
            with rt.read_sessions() as read:
                winner = _find_by_key(
                    read, user=user, project_id=access.project_id, key_hash=key_hash or ""
                )
                winner_id = None if winner is None else winner.id
            if winner_id is None:
                raise
            return _earlier(rt, winner_id, user, project, dataset, size, chunk_size, total_chunks)
        result = _read(session, row)
        # before the commit: whoever finds the session (a racing create with the same
        # client_key) may send chunks at once
        rt.backends.storage.create_dataset(ref.owner_project, staging_area(session_id))
        try:
            session.commit()
        except BaseException:
            _remove_staging(rt, ref.owner_project, session_id)
            raise
    return result, True


def _earlier(
    rt: Runtime,
    session_id: str,
    user: User,
    project: str,
    dataset: str,
    size: int,
    chunk_size: int,
    total_chunks: int,
) -> tuple[UploadSessionRead, bool]:
    """The session a client_key already names, if it is alive and describes the same file;
    an ended one is cleared away so that the key can name a new session."""
    try:
        with rt.read_sessions() as session:
            row, _facts = _authorized(
                session, user=user, project=project, session_id=session_id, dataset=dataset
            )
            if (row.size, row.chunk_size, row.total_chunks) != (size, chunk_size, total_chunks):
                raise Conflict(
                    "an upload session with this client_key exists for another size or "
                    "chunking; delete it or use another key",
                    code="session_mismatch",
                )
            return _read(session, row), False
    except NotFound:
        pass
    with rt.read_sessions() as session:
        owner = session.execute(
            select(UploadSession.owner_project_id, Project.name)
            .join(Project, Project.id == UploadSession.owner_project_id)
            .where(UploadSession.id == session_id)
        ).first()
    if owner is not None:
        _end(rt, session_id, owner[0], owner[1])
    raise Conflict("an earlier upload session with this client_key just ended; try again")


def create_session(
    rt: Runtime,
    *,
    user: User,
    project: str,
    dataset: str,
    path: str,
    size: int,
    chunk_size: int | None = None,
    total_chunks: int | None = None,
    overwrite: bool = False,
    client_key: str | None = None,
) -> UploadSessionRead:
    """Reserve the quota for `size` and open a session (or, with `client_key`, return the
    caller's session for the same file and key: safe under concurrent first requests)."""
    return open_session(
        rt,
        user=user,
        project=project,
        dataset=dataset,
        path=path,
        size=size,
        chunk_size=chunk_size,
        total_chunks=total_chunks,
        overwrite=overwrite,
        client_key=client_key,
    )[0]


def get_session(
    rt: Runtime, *, user: User, project: str, session_id: str, dataset: str | None = None
) -> UploadSessionRead:
    with rt.read_sessions() as session:
        row, _facts = _authorized(
            session, user=user, project=project, session_id=session_id, dataset=dataset
        )
        return _read(session, row)


class ChunkWrite:
    """One chunk being stored; drive it with write(...) then finish() or abort()."""

    def __init__(self, rt: Runtime, facts: _Facts, number: int, expected: int) -> None:
        self._rt = rt
        self._facts = facts
        self._number = number
        self._expected = expected
        self._writer: PendingWrite | None = None
        self.written = 0
        self.path = "/".join(facts.parts)

    def _open(self) -> PendingWrite:
        if self._writer is None:
            owner = self._facts.ref.owner_project
            try:
                self._writer = self._rt.backends.storage.begin_write(
                    owner, staging_area(self._facts.id), (str(self._number),)
                )
            except NotFound as exc:
                raise NotFound(f"upload session '{self._facts.id}' ended") from exc
        return self._writer

    def write(self, chunk: bytes) -> None:
        self.write_many((chunk,))

    def write_many(self, chunks: Sequence[bytes]) -> None:
        size = sum(len(chunk) for chunk in chunks)
        if self.written + size > self._expected:
            raise BadRequest(f"chunk {self._number} must be {self._expected} bytes long")
        files.store(self._open(), chunks)
        self.written += size

    def finish(self) -> ChunkReceived:
        if self.written != self._expected:
            raise BadRequest(
                f"chunk {self._number} must be {self._expected} bytes long, not {self.written}"
            )
        writer = self._open()
        writer.seal()
        facts = self._facts
        with self._rt.sessions() as session:
            ended = NotFound(f"upload session '{facts.id}' ended")
            if not project_service.lock(session, facts.ref.owner_project_id):
                raise ended
            row = session.scalar(
                select(UploadSession).where(UploadSession.id == facts.id).with_for_update()
            )
            if row is None or row.reservation_id is None:
                raise ended
            if row.completing_at is not None:
                raise UploadCompleting("the upload is being completed; chunks are closed")
            writer.commit()  # under the session's lock: an abort cannot be in between
            self._writer = None
            known = session.scalar(
                select(UploadSessionChunk.number).where(
                    UploadSessionChunk.session_id == facts.id,
                    UploadSessionChunk.number == self._number,
                )
            )
            if known is None:
                session.add(UploadSessionChunk(session_id=facts.id, number=self._number))
            row.expires_at = _expiry(self._rt)
            session.flush()
            count = session.scalar(
                select(func.count())
                .select_from(UploadSessionChunk)
                .where(UploadSessionChunk.session_id == facts.id)
            )
            session.commit()
        return ChunkReceived(received=int(count or 0))

    def abort(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.abort()


def begin_chunk(
    rt: Runtime,
    *,
    user: User,
    project: str,
    session_id: str,
    number: int,
    dataset: str | None = None,
    declared: int | None = None,
) -> ChunkWrite:
    """Check the caller and the chunk's number (and declared length) before any byte."""
    with rt.read_sessions() as session:
        row, facts = _authorized(
            session, user=user, project=project, session_id=session_id, dataset=dataset
        )
        expected = chunk_length(row, number)
        if row.completing_at is not None:
            raise UploadCompleting("the upload is being completed; chunks are closed")
    if declared is not None and declared != expected:
        raise BadRequest(f"chunk {number} must be {expected} bytes long, not {declared}")
    return ChunkWrite(rt, facts, number, expected)


def put_chunk(
    rt: Runtime,
    *,
    user: User,
    project: str,
    session_id: str,
    number: int,
    chunks: Iterable[bytes] | bytes,
    dataset: str | None = None,
) -> ChunkReceived:
    """Store chunk `number` (1-based); re-sending one replaces it with the same bytes."""
    write = begin_chunk(
        rt, user=user, project=project, session_id=session_id, number=number, dataset=dataset
    )
    try:
        for chunk in [chunks] if isinstance(chunks, bytes | bytearray) else chunks:
            write.write(bytes(chunk))
        return write.finish()
    except BaseException:
        write.abort()
        raise


class _SessionUpload(files.Upload):
    """A streamed upload fed from the staged chunks, whose publish also ends the session
    (its row goes in the publishing transaction, after the reservation's lock)."""

    def __init__(self, *args: object, session_id: str, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._session_id = session_id
        self._publishing = False

    def _reservation(self, session: Session) -> UploadReservation:
        row = super()._reservation(session)
        if self._publishing:
            session.execute(delete(UploadSession).where(UploadSession.id == self._session_id))
        return row

    def finish(self) -> UploadResult:
        self._publishing = True
        return super().finish()


def _missing(session: Session, session_id: str, total: int) -> list[int]:
    received = set(
        session.scalars(
            select(UploadSessionChunk.number).where(UploadSessionChunk.session_id == session_id)
        ).all()
    )
    return [n for n in range(1, total + 1) if n not in received]


def _chunks_missing(missing: list[int]) -> ChunksMissing:
    named = ", ".join(str(n) for n in missing[:MISSING_NAMED])
    more = f" and {len(missing) - MISSING_NAMED} more" if len(missing) > MISSING_NAMED else ""
    return ChunksMissing(f"chunks missing: {named}{more}")


def _claim(rt: Runtime, session_id: str) -> None:
    """One `complete` at a time per session; one that stopped beating (its process died)
    is taken over after twice the upload idle timeout."""
    now = utcnow()
    stale = now - timedelta(
        seconds=rt.settings.upload_idle_timeout_seconds * files.STALE_AFTER_IDLE_TIMEOUTS
    )
    with rt.sessions() as session:
        claimed = session.execute(
            update(UploadSession)
            .where(
                UploadSession.id == session_id,
                or_(UploadSession.completing_at.is_(None), UploadSession.completing_at < stale),
            )
            .values(completing_at=now)
        ).rowcount
        session.commit()
    if claimed != 1:
        raise UploadCompleting("the upload is already being completed")


def _beat(rt: Runtime, session_id: str) -> None:
    with rt.sessions() as session:
        session.execute(
            update(UploadSession)
            .where(UploadSession.id == session_id)
            .values(completing_at=utcnow(), expires_at=_expiry(rt))
        )
        session.commit()


def _staged(rt: Runtime, facts: _Facts) -> Iterator[bytes]:
    """The chunks in order, each checked against the length it must have."""
    storage = rt.backends.storage
    staging = staging_area(facts.id)
    for number in range(1, facts.total_chunks + 1):
        expected = (
            facts.chunk_size
            if number < facts.total_chunks
            else facts.size - (facts.total_chunks - 1) * facts.chunk_size
        )
        got = 0
        try:
            blocks = storage.open_read(facts.ref.owner_project, staging, (str(number),))
        except (FileNotFoundError, NotFound):
            blocks, got = iter(()), -1
        for block in blocks:
            got += len(block)
            yield block
        if got != expected:
            with rt.sessions() as session:
                session.execute(
                    delete(UploadSessionChunk).where(
                        UploadSessionChunk.session_id == facts.id,
                        UploadSessionChunk.number == number,
                    )
                )
                session.commit()
            raise _chunks_missing([number])


def complete(
    rt: Runtime, *, user: User, project: str, session_id: str, dataset: str | None = None
) -> UploadResult:
    """Assemble the chunks into the file, which appears at once (409 names missing ones)."""
    with rt.read_sessions() as session:
        _row, facts = _authorized(
            session, user=user, project=project, session_id=session_id, dataset=dataset
        )
        missing = _missing(session, facts.id, facts.total_chunks)
    if missing:
        raise _chunks_missing(missing)
    _claim(rt, facts.id)
    storage, ref = rt.backends.storage, facts.ref
    try:
        if not facts.overwrite and storage.stat(ref.owner_project, ref.name, facts.parts):
            raise Conflict(
                f"'{'/'.join(facts.parts)}' was created meanwhile in dataset '{facts.dataset}'",
                code="already_exists",
            )
        storage.discard_upload(ref.owner_project, ref.name, facts.id)  # a crashed attempt's
        writer = storage.begin_write(ref.owner_project, ref.name, facts.parts, token=facts.id)
        upload = _SessionUpload(
            rt,
            ref,
            facts.dataset,
            facts.parts,
            facts.size,
            writer,
            facts.reservation_id,
            facts.size,
            session_id=facts.id,
        )
        try:
            period = rt.settings.upload_idle_timeout_seconds / HEARTBEATS_PER_TIMEOUT
            beat = time.monotonic()
            for block in _staged(rt, facts):
                upload.write(block)
                if time.monotonic() - beat >= period:
                    _beat(rt, facts.id)
                    beat = time.monotonic()
            result = upload.finish()
        except BaseException:
            writer.abort()
            raise
    except BaseException:
        _release_claim(rt, facts)
        raise
    _remove_staging(rt, ref.owner_project, facts.id)
    return result


def _release_claim(rt: Runtime, facts: _Facts) -> None:
    """After a failed `complete`: the session stays for another try while it still holds
    its reservation; without one (the dataset deleted, the reaper) it is over."""
    try:
        with rt.sessions() as session:
            row = session.get(UploadSession, facts.id, with_for_update=True)
            if row is None:
                ended = True
            else:
                alive = row.reservation_id is not None and (
                    session.get(UploadReservation, row.reservation_id) is not None
                )
                ended = not alive
                if alive:
                    row.completing_at = None
            session.commit()
        if ended:
            _end(rt, facts.id, facts.ref.owner_project_id, facts.ref.owner_project)
    except Exception:
        log.exception("could not reopen an upload session", extra={"session": facts.id})


def abort(
    rt: Runtime, *, user: User, project: str, session_id: str, dataset: str | None = None
) -> str:
    """Drop the session: its chunks are removed and its reservation given back. Returns
    the path it was for."""
    with rt.read_sessions() as session:
        _row, facts = _authorized(
            session, user=user, project=project, session_id=session_id, dataset=dataset
        )
    _end(rt, facts.id, facts.ref.owner_project_id, facts.ref.owner_project)
    return "/".join(facts.parts)


def _remove_staging(rt: Runtime, owner_project: str, session_id: str) -> None:
    rt.backends.storage.delete_dataset(owner_project, staging_area(session_id))


def _end(rt: Runtime, session_id: str, owner_project_id: int, owner_project: str) -> bool:
    """Remove a session: its staging first (a chunk cannot land in a removed staging area),
    then, in one transaction, its row and its reservation (the quota given back). If the
    storage does not answer, the row stays and the reaper tries again later."""
    _remove_staging(rt, owner_project, session_id)
    with rt.sessions() as session:
        project_service.lock(session, owner_project_id, deleting_too=True)
        found = session.execute(
            select(UploadSession.reservation_id, UploadSession.completing_at).where(
                UploadSession.id == session_id
            )
        ).first()
        if found is None:
            return False
        reservation_id, completing_at = found
        reservation = (
            None
            if reservation_id is None
            else session.scalar(
                select(UploadReservation)
                .where(UploadReservation.id == reservation_id)
                .with_for_update()
            )
        )
        session.scalar(
            select(UploadSession.id).where(UploadSession.id == session_id).with_for_update()
        )
        dataset = None
        if reservation is not None:
            quota_service.adjust(
                session,
                project_id=owner_project_id,
                size=-reservation.bytes,
                files=-reservation.files,
            )
            dataset = session.scalar(
                select(Dataset.name).where(Dataset.id == reservation.dataset_id)
            )
            session.delete(reservation)
        session.execute(delete(UploadSession).where(UploadSession.id == session_id))
        session.commit()
    if completing_at is not None and dataset is not None:
        rt.backends.storage.discard_upload(owner_project, dataset, session_id)
    return True


def _may_still_write(rt: Runtime, row: UploadSession) -> bool:
    """Whether the session's creator may still write where it writes (the same checks as
    every request of theirs)."""
    with rt.read_sessions() as session:
        user = None if row.user_id is None else session.get(User, row.user_id)
        project = None if row.project_id is None else session.get(Project, row.project_id)
        if user is None or project is None:
            return False
        try:
            access = dataset_service.member_access(session, project=project.name, user=user)
            ref = dataset_service.resolve(session, access, row.dataset)
            files._require_write(access, ref, row.dataset)
        except (NotFound, Forbidden):
            return False
        return ref.dataset_id == row.dataset_id


def reap_sessions(rt: Runtime, *, now: datetime | None = None) -> int:
    """End the sessions that expired, lost their reservation, or whose creator may no longer
    write there; returns how many."""
    now = now or utcnow()
    with rt.read_sessions() as session:
        rows = session.execute(
            select(UploadSession, Project.name).join(
                Project, Project.id == UploadSession.owner_project_id
            )
        ).all()
        session.expunge_all()
    reaped = 0
    for row, owner in rows:
        over = row.expires_at < now or row.reservation_id is None or not _may_still_write(rt, row)
        if not over:
            continue
        try:
            if _end(rt, row.id, row.owner_project_id, owner):
                reaped += 1
                log.warning(
                    "ended an upload session", extra={"project": owner, "dataset": row.dataset}
                )
        except AppError:
            log.warning("could not end an upload session yet", extra={"session": row.id})
    return reaped


def reap(rt: Runtime, *, now: datetime | None = None) -> int:
    """The periodic upload reaper: streamed uploads that died, then idle sessions."""
    return files.reap_abandoned_uploads(rt, now=now) + reap_sessions(rt, now=now)
