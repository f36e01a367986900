"""`hops put`: files go up in chunks through the API's upload sessions, several files and
several chunks of one file at a time, and a re-run resumes where the last one stopped.

The session's `client_key` is derived from the local file (its real path, size and
modification time), so running the same `hops put` again finds the same session and sends
only the chunks the server does not have; a file changed since gets a fresh session.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.progress import Progress, TaskID

from hops_client import errors
from hops_client.api import Api, quoted
from hops_client.errors import CliError
from hops_client.pool import run_all
from hops_client.remote import Remote, stat

CHUNK_SIZE = 8 * 1024 * 1024
SLICE = 1024 * 1024  # progress moves as each MiB of a chunk is sent


@dataclass
class Upload:
    local: Path
    remote: Remote
    size: int
    session: dict[str, Any] = field(default_factory=dict)
    remaining: int = 0
    task: TaskID | None = None


def client_key(local: Path, size: int) -> str:
    info = local.stat()
    ident = f"{local.resolve()}\0{size}\0{info.st_mtime_ns}"
    return hashlib.sha256(ident.encode()).hexdigest()


def plan(api: Api, sources: list[Path], target: Remote) -> tuple[list[Upload], list[Remote]]:
    """The files to send and the empty directories to make, `cp -r`-like: into TARGET when
    it is a directory (or several sources, or a trailing slash), else as TARGET."""
    target.require_dataset()
    for source in sources:
        if not source.exists():
            raise CliError(f"{source}: no such file or directory", 2)
    existing = stat(api, target)
    into = (
        target.trailing_slash
        or len(sources) > 1
        or any(source.is_dir() for source in sources)
        or (existing is not None and existing.is_dir)
    )
    uploads: list[Upload] = []
    empty_dirs: list[Remote] = []
    for source in sources:
        base = target.child(source.name) if into else target
        if source.is_file():
            uploads.append(Upload(source, base, source.stat().st_size))
            continue
        for root, dirs, names in os.walk(source):
            rel = Path(root).relative_to(source)
            here = base.child(*rel.parts) if rel.parts else base
            if not dirs and not names:
                empty_dirs.append(here)
            for name in sorted(names):
                path = Path(root) / name
                if path.is_file():
                    uploads.append(Upload(path, here.child(name), path.stat().st_size))
    return uploads, empty_dirs


class Uploader:
    def __init__(
        self, api: Api, progress: Progress, *, workers: int, overwrite: bool, chunk_size: int
    ) -> None:
        self.api = api
        self.progress = progress
        self.workers = workers
        self.overwrite = overwrite
        self.chunk_size = chunk_size
        self.lock = threading.Lock()

    def _uploads_url(self, remote: Remote) -> str:
        return f"/projects/{quoted(remote.project)}/datasets/{quoted(remote.dataset)}/uploads"

    def _open_session(self, item: Upload) -> None:
        response = self.api.request(
            "POST",
            self._uploads_url(item.remote),
            json={
                "path": item.remote.path,
                "size": item.size,
                "chunk_size": min(self.chunk_size, max(item.size, 1024 * 1024)),
                "overwrite": self.overwrite,
                "client_key": client_key(item.local, item.size),
            },
            ok=(409,),
        )
        if response.status_code == 409:
            if errors.api_error(response)[0] != "already_exists":
                raise errors.from_response(response, self.api.profile.name)
            raise CliError(f"{item.remote} already exists: pass --overwrite to replace it")
        item.session = response.json()

    def _chunk_bounds(self, item: Upload, number: int) -> tuple[int, int]:
        size, chunk, total = item.size, item.session["chunk_size"], item.session["total_chunks"]
        start = (number - 1) * chunk
        end = size if number == total else start + chunk
        return start, end

    def _slices(self, item: Upload, start: int, end: int) -> Iterator[bytes]:
        with item.local.open("rb") as handle:
            handle.seek(start)
            left = end - start
            while left > 0:
                data = handle.read(min(SLICE, left))
                if not data:
                    raise CliError(f"{item.local} became shorter while it was being sent")
                left -= len(data)
                yield data
                if item.task is not None:
                    self.progress.advance(item.task, len(data))

    def _send_chunk(self, item: Upload, number: int) -> None:
        start, end = self._chunk_bounds(item, number)
        url = f"{self._uploads_url(item.remote)}/{quoted(item.session['id'])}/chunks/{number}"
        self.api.request(
            "PUT",
            url,
            content=self._slices(item, start, end),
            headers={"Content-Length": str(end - start)},
        )
        with self.lock:
            item.remaining -= 1
            last = item.remaining == 0
        if last:
            self._complete(item)

    def _complete(self, item: Upload) -> None:
        url = f"{self._uploads_url(item.remote)}/{quoted(item.session['id'])}/complete"
        self.api.request("POST", url)

    def _put_empty(self, item: Upload) -> None:
        if not self.overwrite and stat(self.api, item.remote) is not None:
            raise CliError(f"{item.remote} already exists: pass --overwrite to replace it")
        self.api.request("PUT", item.remote.files_url(), content=b"")

    def prepare(self, uploads: list[Upload]) -> list[tuple[Upload, int]]:
        """Open (or find again) every file's session, before any progress bar is drawn, so
        that a refusal (the file exists, no permission, quota) is a clean one-liner; the
        chunks the server lacks are what is left to send."""
        chunks: list[tuple[Upload, int]] = []
        for item in uploads:
            if item.size == 0:
                self._put_empty(item)
                continue
            self._open_session(item)
            received = set(item.session.get("received", []))
            missing = [n for n in range(1, item.session["total_chunks"] + 1) if n not in received]
            done = sum(
                end - start for start, end in (self._chunk_bounds(item, n) for n in received)
            )
            item.task = self.progress.add_task(str(item.remote.name), total=item.size)
            self.progress.update(item.task, completed=done)
            item.remaining = len(missing)
            if missing:
                chunks += [(item, number) for number in missing]
            else:  # every chunk arrived in an earlier run: only the completion is left
                self._complete(item)
        return chunks

    def send(self, chunks: list[tuple[Upload, int]]) -> None:
        run_all(
            self.workers,
            [functools.partial(self._send_chunk, item, number) for item, number in chunks],
        )
