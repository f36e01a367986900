"""Datasets as directories on the local filesystem: `<root>/Projects/<project>/<dataset>`.

Uploads go to `<root>/.uploads/` (same filesystem) and are renamed into place on commit,
so a reader never sees half a file and a failed upload leaves nothing behind. A dataset
directory carries a random id (`.hops-dataset-id`, made on its first upload); an upload
publishes only into the directory with the id it began with, never into a dataset deleted
meanwhile, nor one re-created under the same name, nor re-creates a deleted one.

Share grants are kept the way HDFS keeps ACLs, on the dataset itself: a `.hops-acl.json`
file inside the dataset directory, so a grant moves with its dataset to the trash and comes
back with it on restore. The service enforces access from the DB; this record is what the
sharing saga writes and `hops reconcile` compares, exactly as with HDFS. Names starting
with `.hops-` cannot be uploaded (`validate_relative_path`) and are hidden from listings
and usage.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hopsworks_api.backends.storage.base import RESERVED_PREFIX, EntryInfo
from hopsworks_api.errors import BadRequest, Conflict, NotFound

ACL_FILE = f"{RESERVED_PREFIX}acl.json"
UPLOAD_PREFIX = f"{RESERVED_PREFIX}upload-"
MARKER_FILE = f"{RESERVED_PREFIX}dataset-id"
TOKEN_RE = re.compile(r"^[0-9a-f]{32}$")
GROUP_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
IOV_MAX = 1024  # buffers per writev (Linux's limit)
WRITE_CALL_BYTES = 1024 * 1024
"""At most this much per write system call, like cp's buffer-sized writes. Bigger calls
let the kernel take large page-cache folios, and on a VM that hands free memory back to
its host (balloon free page reporting) those come from cold high-order blocks: one 4 MiB
writev measured 3-15x slower than four of 1 MiB on the bench machine (issue 19)."""


@dataclass(frozen=True)
class Trashed:
    origin: Path
    trash: Path | None


class LocalPendingWrite:
    def __init__(
        self, temp: Path, target: Path, dataset_dir: Path, token: str, identity: str
    ) -> None:
        self._temp = temp
        self._target = target
        self._dataset_dir = dataset_dir
        # the dataset directory this upload began in: a directory re-created under the same
        # name later is another dataset (another marker), and the upload must not land there
        self._dataset_identity = identity
        # unbuffered: the chunks go to the file as they are, without a copy in between
        self._handle = open(temp, "xb", buffering=0)  # noqa: SIM115 - closed in seal/abort
        self.token = token
        self.written = 0

    def write(self, chunk: bytes) -> None:
        self.write_many((chunk,))

    def write_many(self, chunks: Sequence[bytes]) -> None:
        """Append the chunks in order, several per system call (writev) and at most
        `WRITE_CALL_BYTES` per call, so a batch of received pieces is stored without being
        joined first."""
        views: list[memoryview] = []
        for chunk in chunks:
            view = memoryview(chunk)
            views.extend(
                view[start : start + WRITE_CALL_BYTES]
                for start in range(0, view.nbytes, WRITE_CALL_BYTES)
            )
        fd, first = self._handle.fileno(), 0
        while first < len(views):
            end, size = first + 1, views[first].nbytes
            while (
                end < len(views)
                and end - first < IOV_MAX
                and size + views[end].nbytes <= WRITE_CALL_BYTES
            ):
                size += views[end].nbytes
                end += 1
            done = os.writev(fd, views[first:end])
            self.written += done
            while first < end and done >= views[first].nbytes:
                done -= views[first].nbytes
                first += 1
            if done:  # a short write: the rest of this buffer goes next
                views[first] = views[first][done:]

    def seal(self) -> None:
        if not self._handle.closed:
            self._handle.close()

    def commit(self) -> int | None:
        self.seal()
        try:
            if _identity(self._dataset_dir) != self._dataset_identity:
                raise NotFound("the dataset was deleted while the upload was in flight")
            _make_parents(self._dataset_dir, self._target)
            if self._target.is_dir():
                raise Conflict("a directory already exists at that path")
            replaced = self._target.stat().st_size if self._target.exists() else None
            os.replace(self._temp, self._target)
            return replaced
        except BaseException:
            self._temp.unlink(missing_ok=True)
            raise

    def abort(self) -> None:
        self.seal()
        self._temp.unlink(missing_ok=True)


def _identity(dataset_dir: Path) -> str | None:
    """The dataset directory's marker (see `EmbeddedStorage._mark`); None if it is gone."""
    try:
        return (dataset_dir / MARKER_FILE).read_text("ascii")
    except (FileNotFoundError, NotADirectoryError):
        return None


def _check_token(token: str) -> str:
    """Upload tokens name files: only the service's own uuid4 hex is accepted."""
    if not TOKEN_RE.match(token):
        raise BadRequest("invalid upload token")
    return token


def _make_parents(dataset_dir: Path, target: Path) -> None:
    """Create the directories between the dataset and the file, never the dataset itself."""
    if not dataset_dir.is_dir():
        raise NotFound("the dataset has no storage")
    parent = target.parent
    if parent == dataset_dir:
        return
    for ancestor in reversed(parent.relative_to(dataset_dir).parents):
        path = dataset_dir / ancestor
        if path.exists() and not path.is_dir():
            raise Conflict(f"'{ancestor}' is a file, not a directory")
    if parent.exists() and not parent.is_dir():
        raise Conflict(f"'{parent.relative_to(dataset_dir)}' is a file, not a directory")
    parent.mkdir(parents=True, exist_ok=True)


def _entry(name: str, st: os.stat_result) -> EntryInfo:
    """One stat per entry (it follows a symlink, as `Path.is_dir` would)."""
    is_dir = stat.S_ISDIR(st.st_mode)
    return EntryInfo(
        name=name,
        is_dir=is_dir,
        size=0 if is_dir else st.st_size,
        modified=datetime.fromtimestamp(st.st_mtime, UTC).replace(tzinfo=None),
    )


class EmbeddedStorage:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.projects_dir = root / "Projects"
        self.uploads_dir = root / ".uploads"
        self.trash_dir = root / ".trash"
        for directory in (self.projects_dir, self.uploads_dir, self.trash_dir):
            directory.mkdir(parents=True, exist_ok=True)
        # resolved once: a dataset's real directory is then this joined with its names
        self._real_projects_dir = os.path.realpath(self.projects_dir)

    def _dataset_dir(self, project: str, dataset: str) -> Path:
        return self.projects_dir / project / dataset

    def dataset_path(self, project: str, dataset: str) -> Path:
        """The dataset's directory on this host: what the embedded job runner mounts."""
        return self._dataset_dir(project, dataset)

    def _resolve(self, project: str, dataset: str, path: tuple[str, ...]) -> Path:
        """The entry's path, refused if a symlink on the way leads out of the dataset. The
        dataset directory's real path is the one the service made (a dataset directory
        turned into a symlink leads out too): one `realpath` walk per call, not two."""
        target = self._dataset_dir(project, dataset).joinpath(*path)
        real_base = os.path.join(self._real_projects_dir, project, dataset)
        real = os.path.realpath(target)
        if real != real_base and not real.startswith(real_base + os.sep):
            raise BadRequest("path escapes its dataset", code="bad_path")
        return target

    def project_exists(self, project: str) -> bool:
        return (self.projects_dir / project).is_dir()

    def create_project(self, project: str) -> None:
        (self.projects_dir / project).mkdir(exist_ok=True)

    def delete_project(self, project: str) -> None:
        self.purge(self.trash_project(project))

    def create_dataset(self, project: str, dataset: str) -> None:
        self._dataset_dir(project, dataset).mkdir(parents=True, exist_ok=True)

    def delete_dataset(self, project: str, dataset: str) -> None:
        self.purge(self.trash_dataset(project, dataset))

    def trash_project(self, project: str) -> Trashed:
        return self._trash(self.projects_dir / project)

    def trash_dataset(self, project: str, dataset: str) -> Trashed:
        return self._trash(self._dataset_dir(project, dataset))

    def _trash(self, source: Path) -> Trashed:
        """Move aside atomically: the delete can still be undone until `purge`."""
        if not source.exists():
            return Trashed(source, None)
        trash = self.trash_dir / uuid.uuid4().hex
        os.replace(source, trash)
        return Trashed(source, trash)

    def restore(self, trashed: Trashed) -> None:
        if trashed.trash is not None and trashed.trash.exists():
            os.replace(trashed.trash, trashed.origin)

    def purge(self, trashed: Trashed) -> None:
        if trashed.trash is not None:
            shutil.rmtree(trashed.trash, ignore_errors=True)

    def stat(self, project: str, dataset: str, path: tuple[str, ...]) -> EntryInfo | None:
        target = self._resolve(project, dataset, path)
        try:
            return _entry(target.name, target.stat())
        except (FileNotFoundError, NotADirectoryError):
            return None

    def list_dir(self, project: str, dataset: str, path: tuple[str, ...]) -> list[EntryInfo]:
        target = self._resolve(project, dataset, path)
        try:
            with os.scandir(target) as children:
                entries = [
                    _entry(child.name, child.stat())
                    for child in children
                    if not child.name.startswith(RESERVED_PREFIX)
                ]
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise NotFound(f"no directory '{'/'.join(path)}'") from exc
        return sorted(entries, key=lambda entry: entry.name)

    def open_read(
        self,
        project: str,
        dataset: str,
        path: tuple[str, ...],
        chunk_size: int = 1024 * 1024,
        offset: int = 0,
        length: int | None = None,
    ) -> Iterator[bytes]:
        target = self._resolve(project, dataset, path)
        handle = open(target, "rb")  # noqa: SIM115 - closed by the generator
        handle.seek(offset)

        def chunks() -> Iterator[bytes]:
            left = length
            with handle:
                while left is None or left > 0:
                    block = handle.read(chunk_size if left is None else min(chunk_size, left))
                    if not block:
                        return
                    if left is not None:
                        left -= len(block)
                    yield block

        return chunks()

    def make_dir(self, project: str, dataset: str, path: tuple[str, ...]) -> None:
        dataset_dir = self._dataset_dir(project, dataset)
        target = self._resolve(project, dataset, path)
        if not path:
            raise Conflict("the dataset itself already exists")
        if target.exists() or target.is_symlink():
            raise Conflict(f"'{'/'.join(path)}' already exists", code="already_exists")
        _make_parents(dataset_dir, target)
        try:
            target.mkdir()
        except FileExistsError as exc:
            raise Conflict(f"'{'/'.join(path)}' already exists", code="already_exists") from exc

    def begin_write(
        self, project: str, dataset: str, path: tuple[str, ...], token: str | None = None
    ) -> LocalPendingWrite:
        dataset_dir = self._dataset_dir(project, dataset)
        target = self._resolve(project, dataset, path)
        if not dataset_dir.is_dir():
            raise NotFound(f"dataset '{dataset}' has no storage")
        token = _check_token(token or uuid.uuid4().hex)
        identity = self._mark(dataset_dir)
        return LocalPendingWrite(self._upload_path(token), target, dataset_dir, token, identity)

    def _mark(self, dataset_dir: Path) -> str:
        """A random id kept in the dataset directory, made on its first upload: inode
        numbers are reused at once on Linux, so only this tells a dataset re-created under
        the same name from the one an upload began in. Linked into place, so concurrent
        first uploads agree on one value."""
        existing = _identity(dataset_dir)
        if existing is not None:
            return existing
        value = uuid.uuid4().hex
        temp = self.uploads_dir / f"{RESERVED_PREFIX}marker-{value}"
        temp.write_text(value, "ascii")
        try:
            os.link(temp, dataset_dir / MARKER_FILE)
        except FileExistsError:
            value = _identity(dataset_dir) or value
        finally:
            temp.unlink(missing_ok=True)
        return value

    def _upload_path(self, token: str) -> Path:
        return self.uploads_dir / f"{UPLOAD_PREFIX}{_check_token(token)}"

    def discard_upload(self, project: str, dataset: str, token: str) -> None:
        self._upload_path(token).unlink(missing_ok=True)

    def delete_path(self, project: str, dataset: str, path: tuple[str, ...]) -> tuple[int, int]:
        target = self._resolve(project, dataset, path)
        if not target.exists():
            raise NotFound(f"no file or directory '{'/'.join(path)}'")
        if target.is_dir():
            size, files = _tree_usage(target)
            self.purge(self._trash(target))
            return size, files
        size = target.stat().st_size
        target.unlink()
        return size, 1

    def usage(self, project: str, dataset: str | None = None) -> tuple[int, int]:
        base = self.projects_dir / project
        return _tree_usage(base / dataset if dataset else base)

    # -- share grants ---------------------------------------------------------------------
    def _acl_path(self, project: str, dataset: str, group: str | None = None) -> Path:
        if group is not None and not GROUP_RE.match(group):
            raise BadRequest(f"invalid group name '{group}'")
        directory = self._dataset_dir(project, dataset)
        if not directory.is_dir():
            raise NotFound("the dataset has no storage")
        return directory / ACL_FILE

    def share_groups(self, project: str, dataset: str) -> dict[str, bool]:
        try:
            return dict(json.loads(self._acl_path(project, dataset).read_text("utf-8")))
        except FileNotFoundError:
            return {}

    def _write_groups(self, path: Path, groups: dict[str, bool]) -> None:
        if not groups:
            path.unlink(missing_ok=True)
            return
        temp = path.with_name(f"{ACL_FILE}.{uuid.uuid4().hex}")
        temp.write_text(json.dumps(groups, sort_keys=True), "utf-8")
        os.replace(temp, path)

    def grant_group(self, project: str, dataset: str, group: str, writable: bool) -> None:
        path = self._acl_path(project, dataset, group)
        groups = self.share_groups(project, dataset)
        if groups.get(group) is not writable:
            groups[group] = writable
            self._write_groups(path, groups)

    def revoke_group(self, project: str, dataset: str, group: str) -> None:
        path = self._acl_path(project, dataset, group)
        groups = self.share_groups(project, dataset)
        if groups.pop(group, None) is not None:
            self._write_groups(path, groups)


def _tree_usage(base: Path) -> tuple[int, int]:
    size = files = 0
    for dirpath, _dirs, names in os.walk(base):
        for name in names:
            if name.startswith(RESERVED_PREFIX):
                continue
            try:
                size += os.lstat(os.path.join(dirpath, name)).st_size
            except FileNotFoundError:
                continue
            files += 1
    return size, files
