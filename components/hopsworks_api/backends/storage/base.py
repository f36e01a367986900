"""The storage contract, phrased as HDFS can honour it too (mkdirs, stat, list, delete,
streamed create-then-rename), so a WebHDFS implementation can slot in unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from hopsworks_api.errors import BadRequest

MAX_PATH_BYTES = 4096
MAX_SEGMENT_BYTES = 255
RESERVED_PREFIX = ".hops-"


@dataclass(frozen=True)
class EntryInfo:
    name: str
    is_dir: bool
    size: int
    modified: datetime


class PendingWrite(Protocol):
    """A file being uploaded: invisible until `commit`, gone without trace after `abort`."""

    written: int
    token: str
    """Names the temporary file, so `StorageBackend.discard_upload` can remove it after the
    process that wrote it died."""

    def write(self, chunk: bytes) -> None: ...
    def seal(self) -> None:
        """Finish storing the bytes (nothing is visible yet); what is left for `commit` is
        one short publish step, which callers run under the locks that order it against a
        deletion of the dataset."""
        ...

    def commit(self) -> int | None:
        """Publish the file atomically; return the size of the file it replaced, if any.
        Refuses (404) if the dataset directory is no longer the one the upload began in."""
        ...

    def abort(self) -> None: ...


class StorageBackend(Protocol):
    def create_project(self, project: str) -> None: ...
    def delete_project(self, project: str) -> None: ...
    def trash_project(self, project: str) -> Any:
        """Move a project aside; `restore` undoes it, `purge` makes it final."""
        ...

    def trash_dataset(self, project: str, dataset: str) -> Any: ...
    def restore(self, trashed: Any) -> None: ...
    def purge(self, trashed: Any) -> None: ...
    def create_dataset(self, project: str, dataset: str) -> None: ...
    def delete_dataset(self, project: str, dataset: str) -> None: ...
    def stat(self, project: str, dataset: str, path: tuple[str, ...]) -> EntryInfo | None: ...
    def list_dir(self, project: str, dataset: str, path: tuple[str, ...]) -> list[EntryInfo]: ...
    def open_read(
        self,
        project: str,
        dataset: str,
        path: tuple[str, ...],
        chunk_size: int = ...,
        offset: int = 0,
        length: int | None = None,
    ) -> Iterator[bytes]:
        """The file's bytes from `offset` (within the file), at most `length` of them (all
        the rest when None), in chunks: a ranged download never reads what it skips."""
        ...

    def make_dir(self, project: str, dataset: str, path: tuple[str, ...]) -> None:
        """Create an (empty) directory and its missing parents inside an existing dataset.
        Conflict if anything already exists at `path` or a parent is a file; NotFound if
        the dataset has no storage. Directories hold no bytes and count as no file."""
        ...

    def begin_write(
        self, project: str, dataset: str, path: tuple[str, ...], token: str | None = None
    ) -> PendingWrite:
        """`token` (32 hex digits, default: a new one) names the temporary file."""
        ...

    def discard_upload(self, project: str, dataset: str, token: str) -> None:
        """Remove the temporary file of an upload that will never finish; no-op if gone."""
        ...

    def delete_path(self, project: str, dataset: str, path: tuple[str, ...]) -> tuple[int, int]:
        """Delete a file or directory tree; return the (bytes, files) it held."""
        ...

    def usage(self, project: str, dataset: str | None = None) -> tuple[int, int]: ...
    def project_exists(self, project: str) -> bool: ...
    def grant_group(self, project: str, dataset: str, group: str, writable: bool) -> None:
        """Give `group` read (or read-write) access to the dataset and to everything created
        in it later; calling again with another `writable` converges. Undo: `revoke_group`.
        Sharing grants the target project's group, so members who join it later are covered
        without another call (see docs/decisions.md, "Share groups")."""
        ...

    def revoke_group(self, project: str, dataset: str, group: str) -> None:
        """Remove the group's access; removing an absent grant is a no-op."""
        ...

    def share_groups(self, project: str, dataset: str) -> dict[str, bool]:
        """The groups granted on the dataset, each mapped to whether it may write: what
        `hops reconcile` compares with the DB's accepted shares."""
        ...


def validate_relative_path(raw: str) -> tuple[str, ...]:
    """Split a user-supplied path and refuse anything that could escape its dataset."""
    if len(raw.encode()) > MAX_PATH_BYTES:
        raise BadRequest(f"path longer than {MAX_PATH_BYTES} bytes", code="bad_path")
    if "\\" in raw or "\x00" in raw:
        raise BadRequest("paths may not contain backslashes or NUL bytes", code="bad_path")
    parts = tuple(p for p in raw.strip("/").split("/"))
    if parts == ("",):
        return ()
    for part in parts:
        if part in ("", ".", ".."):
            raise BadRequest(f"invalid path segment '{part}' in '{raw}'", code="bad_path")
        if len(part.encode()) > MAX_SEGMENT_BYTES:
            raise BadRequest(f"path segment longer than {MAX_SEGMENT_BYTES} bytes", code="bad_path")
        if part.startswith(RESERVED_PREFIX):
            raise BadRequest(
                f"names starting with '{RESERVED_PREFIX}' are reserved", code="bad_path"
            )
        if any(ord(c) < 32 for c in part):
            raise BadRequest("paths may not contain control characters", code="bad_path")
    return parts
