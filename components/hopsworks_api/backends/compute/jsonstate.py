"""A small JSON document on disk, changed under a lock and replaced atomically.

The embedded backends (`LocalCompute`, `NoKubernetes`) keep their desired state this way:
no reader ever sees half a file (write to a temporary file in the same directory, fsync,
`os.replace`, fsync the directory), and two service processes sharing one data directory
serialise their read-modify-write cycles with `flock` on a sibling lock file, so a change
is never lost to a concurrent one.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class JsonStateFile:
    def __init__(self, path: Path, empty: Callable[[], dict[str, Any]]) -> None:
        self.path = path
        self._empty = empty
        self._lock_path = path.with_name(path.name + ".lock")
        self._thread_lock = threading.RLock()
        path.parent.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._thread_lock, open(self._lock_path, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _load(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return self._empty()

    def _store(self, data: dict[str, Any]) -> None:
        directory = self.path.parent
        fd, temp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=2, sort_keys=True)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self.path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def read(self) -> dict[str, Any]:
        """A consistent snapshot (the file is only ever replaced whole)."""
        with self._thread_lock:
            return self._load()

    def update(self, change: Callable[[dict[str, Any]], T]) -> T:
        """Run `change` on the current document and persist it, unless `change` raises
        (then nothing is written: a refused operation leaves no trace)."""
        with self._locked():
            data = self._load()
            before = json.dumps(data, sort_keys=True)
            result = change(data)
            if json.dumps(data, sort_keys=True) != before:
                self._store(data)
            return result
