"""Small JSON documents on disk, changed under a lock and replaced atomically.

The embedded backends (`EmbeddedCompute`, `EmbeddedKubernetes`, `EmbeddedHive`,
`EmbeddedKafka`) keep their desired state this way, one document per project,
``<directory>/<project>.json`` (`ProjectDocuments`). A step reads and rewrites only the
documents of the projects it concerns, so its cost does not grow with the number of
projects (one file of one project, not the state of all). The module sits beside the
systems' packages, not inside one of them, because all four use it.

No reader ever sees half a document (write a temporary file in the same
directory, fsync it, `os.replace` it over the old one, fsync the directory), and service
processes sharing one data directory serialise their read-modify-write cycles with `flock`
on a lock file (plus a thread lock inside one process), so a change is never lost to a
concurrent one. A change that raises writes nothing.

A `ProjectDocuments` transaction may change several documents (a share touches the owner's
and the target's); they are written one after the other under the lock, in an order the
caller chooses, so a crash in between leaves each document whole, and the backend decides
which half-done state is harmless (see `EmbeddedKafka`, `EmbeddedCompute`).

A `ProjectDocuments.batch` groups several operations of one thread under one lock: each
operation still changes its documents whole or not at all (it works on a copy, kept only
when it succeeds), and every changed document is written once, when the batch ends (also
when it ends by an exception: what the operations before it did is kept, as it would have
been without the batch). The Kubernetes converge of a project uses it: namespace, role
bindings and certificate Secrets of a new project in one write instead of three.

Each store counts the files it writes and removes and the bytes it writes (`stats`): the
tests use that to prove that a project's creation touches a constant number of files of a
constant size, whatever the number of projects.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUFFIX = ".json"
KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,200}$")
"""Document names: project names (``[a-z][a-z0-9_]{2,62}``) and a few reserved names
starting with a digit. Never ``.`` (temporary files start with one) nor ``/``."""


def encode(data: Any) -> bytes:
    """The one serialisation of a document: sorted keys, so that equal state is equal bytes
    (unchanged documents are recognised, and an undone change leaves the same file)."""
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def fsync_directory(directory: Path) -> None:
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def replace_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically and durably: a temporary file in the same
    directory, fsync, rename over ``path``, fsync the directory."""
    directory = path.parent
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    fsync_directory(directory)


def remove_file(path: Path) -> bool:
    """Unlink ``path`` durably; False if it was not there."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    fsync_directory(path.parent)
    return True


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive `flock` on ``path`` (created if missing). Each call opens the file
    anew, so two holders in one process exclude each other like two processes do."""
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@dataclass
class WriteStats:
    """What a store has written since it was created (or since the caller reset it)."""

    files_written: int = 0
    bytes_written: int = 0
    files_removed: int = 0

    def reset(self) -> None:
        self.files_written = self.bytes_written = self.files_removed = 0


class ProjectDocuments:
    """One JSON document per key (a project) in ``directory``, ``<key>.json``.

    - `read` / `read_all` / `names` take no lock: a document is only ever replaced whole,
      so a reader sees the old version or the new one.
    - `transaction` takes the lock (thread + `flock` on ``lock_path``), loads documents on
      demand, and on success writes the changed ones (a document that ``is_empty`` is
      removed: a project that has nothing left leaves no file behind).
    - ``prepare`` runs once per instance, under the lock, before the first operation (the
      compute backend checks its cross-project total there). It is retried until it
      succeeds, so a failure keeps failing every operation rather than being skipped.
    - ``decode`` validates and converts a loaded document; it raises ValueError for a
      document it cannot use (the backends turn that into BackendUnavailable).
    """

    def __init__(
        self,
        directory: Path,
        lock_path: Path,
        *,
        is_empty: Callable[[dict[str, Any]], bool] = lambda doc: not doc,
        decode: Callable[[str, Any], dict[str, Any]] | None = None,
        prepare: Callable[[ProjectDocuments], None] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.lock_path = Path(lock_path)
        self._is_empty = is_empty
        self._decode = decode
        self._prepare = prepare
        self._prepared = prepare is None
        self._preparing: int | None = None  # the thread running ``prepare``
        self._thread_lock = threading.RLock()
        self._batch: Transaction | None = None
        self._batch_thread: int | None = None
        self.stats = WriteStats()
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)

    # --- files ---------------------------------------------------------------------------

    def path(self, key: str) -> Path:
        if not isinstance(key, str) or not KEY_RE.fullmatch(key):
            raise ValueError(f"{key!r} cannot name a state document")
        return self.directory / f"{key}{SUFFIX}"

    def _load(self, key: str) -> dict[str, Any] | None:
        path = self.path(key)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise ValueError(f"state file {path} is unreadable: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError(f"state file {path} is unreadable: not a JSON object")
        return self._decode(key, data) if self._decode else data

    def write(self, key: str, data: dict[str, Any] | None) -> None:
        """Replace (or, for None or an empty document, remove) one document now. Only
        under the lock (`transaction` or ``prepare``)."""
        path = self.path(key)
        if data is None or self._is_empty(data):
            if remove_file(path):
                self.stats.files_removed += 1
            return
        payload = encode(data)
        try:
            replace_file(path, payload)
        except FileNotFoundError:  # the first document: the directory is made on demand
            self.directory.mkdir(parents=True, exist_ok=True)
            replace_file(path, payload)
        self.stats.files_written += 1
        self.stats.bytes_written += len(payload)

    # --- locking -------------------------------------------------------------------------

    @contextmanager
    def locked(self) -> Iterator[None]:
        with self._thread_lock, file_lock(self.lock_path):
            if not self._prepared and self._preparing is None:
                assert self._prepare is not None
                self._preparing = threading.get_ident()
                try:
                    self._prepare(self)
                    self._prepared = True
                finally:
                    self._preparing = None
            yield

    def _ensure_prepared(self) -> None:
        if not self._prepared and self._preparing != threading.get_ident():
            with self.locked():
                pass

    # --- reading (no lock) ---------------------------------------------------------------

    def read(self, key: str) -> dict[str, Any] | None:
        """The document of ``key``, None if there is none."""
        self._ensure_prepared()
        return self._load(key)

    def names(self) -> list[str]:
        """Every key with a document, sorted (one directory listing, no file read)."""
        self._ensure_prepared()
        names = []
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:  # nothing written yet
            return []
        for entry in entries:
            name = entry.name
            if name.endswith(SUFFIX) and not name.startswith("."):
                key = name[: -len(SUFFIX)]
                if KEY_RE.fullmatch(key):
                    names.append(key)
        return sorted(names)

    def read_all(self) -> dict[str, dict[str, Any]]:
        """Every document by key (O(projects): for listings and rare cross-project scans,
        never on a project-creation step). A document removed meanwhile is skipped."""
        result = {}
        for key in self.names():
            data = self._load(key)
            if data is not None:
                result[key] = data
        return result

    # --- changing ------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Load documents with `Transaction.get`, change them in place; on leaving without
        an exception, every changed document is written (`Transaction.commit`), or, inside
        this thread's `batch`, handed to the batch."""
        batch = self._batch
        if batch is not None and self._batch_thread == threading.get_ident():
            tx = Transaction(self, within=batch)
            yield tx
            tx.commit()
            return
        with self.locked():
            tx = Transaction(self)
            yield tx
            tx.commit()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """This thread's transactions until the end of the block share one lock and write
        each changed document once, at the end (see the module's docstring). `read` still
        reads the files: what the batch changed is not there before it ends."""
        if self._batch_thread == threading.get_ident():  # already in one: it covers this
            yield
            return
        with self.locked():
            self._batch, self._batch_thread = Transaction(self), threading.get_ident()
            try:
                yield
            finally:
                batch, self._batch, self._batch_thread = self._batch, None, None
                batch.commit()


class Transaction:
    """The documents one locked operation has loaded, and which of them it changed. One
    `within` a batch loads copies of the batch's documents and, on commit, gives them back."""

    def __init__(self, store: ProjectDocuments, *, within: Transaction | None = None) -> None:
        self._store = store
        self._within = within
        self._docs: dict[str, dict[str, Any] | None] = {}
        self._before: dict[str, bytes | None] = {}

    def _load(self, key: str) -> dict[str, Any] | None:
        if self._within is None:
            return self._store._load(key)
        data = self._within.get(key)
        if data is None:
            return None
        copy = json.loads(encode(data))  # to change, as if loaded from the file
        return self._store._decode(key, copy) if self._store._decode else copy

    def get(
        self, key: str, default: Callable[[], dict[str, Any]] | None = None
    ) -> dict[str, Any] | None:
        """The document of ``key`` (loaded once per transaction, then the same object),
        or ``default()`` if it has none (kept, and written if it ends up non-empty), or
        None."""
        if key not in self._docs:
            data = self._load(key)
            self._before[key] = None if data is None else encode(data)
            self._docs[key] = data
        if self._docs[key] is None and default is not None:
            self._docs[key] = default()
        return self._docs[key]

    def set(self, key: str, data: dict[str, Any] | None) -> None:
        """Replace the document of ``key`` (None removes it)."""
        self.get(key)
        self._docs[key] = data

    def changed(self, key: str) -> bool:
        if key not in self._docs:
            return False
        data = self._docs[key]
        if data is not None and self._store._is_empty(data):
            data = None
        return (None if data is None else encode(data)) != self._before[key]

    def flush(self, keys: Iterable[str]) -> None:
        """Write these documents now, if changed (to order writes within a transaction;
        within a batch, the batch writes them now, in this order)."""
        self._settle(keys, now=True)

    def commit(self) -> None:
        """Write every changed document, or hand them to the batch this one is within."""
        self._settle(list(self._docs), now=False)

    def _settle(self, keys: Iterable[str], *, now: bool) -> None:
        for key in keys:
            if self.changed(key):
                data = self._docs[key]
                if self._within is None:
                    self._store.write(key, data)
                else:
                    self._within.set(key, data)
                    if now:
                        self._within.flush([key])
                self._before[key] = (
                    None if data is None or self._store._is_empty(data) else encode(data)
                )
