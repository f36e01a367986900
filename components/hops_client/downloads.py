"""`hops get`: files come down in byte ranges, several files and several ranges of one file
at a time, into `NAME.part`; a re-run resumes it.

Next to the `.part` file, `NAME.part.json` records the file's ETag (size and modification
time on the server) and the ranges already written. A re-run whose HEAD answers the same
ETag fetches only the missing ranges; each range is asked with `If-Range`, so a file that
changes on the server mid-way is noticed (a 200 instead of 206) and fetched afresh next
time rather than stitched from two versions. The `.part` file becomes NAME when complete.
"""

from __future__ import annotations

import functools
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rich.progress import Progress, TaskID

from hops_client.api import Api
from hops_client.errors import CliError, from_response, from_transport
from hops_client.pool import run_all
from hops_client.remote import Entry, Remote, stat

CHUNK_SIZE = 8 * 1024 * 1024


@dataclass
class Download:
    remote: Remote
    local: Path
    entry: Entry
    chunk_size: int = CHUNK_SIZE
    done: set[int] = field(default_factory=set)
    remaining: int = 0
    task: TaskID | None = None

    @property
    def part(self) -> Path:
        return self.local.with_name(self.local.name + ".part")

    @property
    def state_file(self) -> Path:
        return self.local.with_name(self.local.name + ".part.json")

    @property
    def chunks(self) -> int:
        return max(1, -(-self.entry.size // self.chunk_size))

    def bounds(self, number: int) -> tuple[int, int]:
        start = (number - 1) * self.chunk_size
        return start, min(start + self.chunk_size, self.entry.size)


def _walk(api: Api, remote: Remote, local: Path) -> list[Download]:
    items: list[Download] = []
    for entry in api.pages(remote.files_url()):
        child, target = remote.child(entry["name"]), local / entry["name"]
        if entry["type"] == "dir":
            target.mkdir(parents=True, exist_ok=True)
            items += _walk(api, child, target)
        else:
            found = stat(api, child)
            if found is not None and not found.is_dir:
                items.append(Download(child, target, found))
    return items


def plan(api: Api, source: Remote, local: Path) -> list[Download]:
    """A file lands as LOCAL (or inside it, when it is a directory); a directory lands as
    LOCAL/NAME when LOCAL is a directory, else as LOCAL, with everything under it."""
    source.require_dataset()
    entry = stat(api, source)
    if entry is None:
        raise CliError(f"{source}: no such file or directory on the platform")
    if not entry.is_dir:
        target = local / source.name if local.is_dir() else local
        return [Download(source, target, entry)]
    target = local / source.name if local.is_dir() else local
    target.mkdir(parents=True, exist_ok=True)
    return _walk(api, source, target)


class Downloader:
    def __init__(self, api: Api, progress: Progress, *, workers: int, chunk_size: int) -> None:
        self.api = api
        self.progress = progress
        self.workers = workers
        self.chunk_size = chunk_size
        self.lock = threading.Lock()

    def _resume_state(self, item: Download) -> None:
        """Chunks a previous run wrote, if it fetched this very version the same way."""
        try:
            state = json.loads(item.state_file.read_text())
        except (OSError, ValueError):
            state = None
        same = (
            isinstance(state, dict)
            and item.entry.etag is not None
            and state.get("etag") == item.entry.etag
            and state.get("size") == item.entry.size
            and state.get("chunk_size") == item.chunk_size
            and item.part.exists()
        )
        item.done = {int(n) for n in state.get("done", [])} if same and state else set()
        if not same:
            item.part.unlink(missing_ok=True)
        with item.part.open("ab") as handle:
            handle.truncate(item.entry.size)

    def _save_state(self, item: Download) -> None:
        state = {
            "etag": item.entry.etag,
            "size": item.entry.size,
            "chunk_size": item.chunk_size,
            "done": sorted(item.done),
        }
        tmp = item.state_file.with_name(item.state_file.name + ".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, item.state_file)

    def _fetch(self, item: Download, number: int | None) -> None:
        """One range (or, for a server without ranges, the whole file) into the .part file."""
        headers = {}
        start, end = (0, item.entry.size) if number is None else item.bounds(number)
        if number is not None:
            headers["Range"] = f"bytes={start}-{end - 1}"
            if item.entry.etag:
                headers["If-Range"] = item.entry.etag
        fd = os.open(item.part, os.O_WRONLY)
        try:
            self._receive(item, fd, headers, start, end, ranged=number is not None)
        except httpx.TransportError as exc:
            raise from_transport(exc, self.api.profile.url) from exc
        finally:
            os.close(fd)
        with self.lock:
            if number is not None:
                item.done.add(number)
                self._save_state(item)
            item.remaining -= 1
            last = item.remaining == 0
        if last:
            self._finish(item)

    def _receive(
        self,
        item: Download,
        fd: int,
        headers: dict[str, str],
        start: int,
        end: int,
        *,
        ranged: bool,
    ) -> None:
        with self.api.stream("GET", item.remote.files_url(), headers=headers) as response:
            if ranged and response.status_code == 200:
                item.state_file.unlink(missing_ok=True)
                raise CliError(
                    f"{item.remote} changed on the platform while it was downloaded: "
                    "run the same hops get again"
                )
            if not response.is_success:
                response.read()
                raise from_response(response, self.api.profile.name)
            offset = start
            for data in response.iter_bytes(1024 * 1024):
                os.pwrite(fd, data, offset)
                offset += len(data)
                if item.task is not None:
                    self.progress.advance(item.task, len(data))
            if offset != end:
                raise CliError(f"{item.remote}: the connection ended early; run it again")

    def _finish(self, item: Download) -> None:
        os.replace(item.part, item.local)
        item.state_file.unlink(missing_ok=True)

    def run(self, items: list[Download]) -> None:
        work: list[tuple[Download, int | None]] = []
        for item in items:
            item.chunk_size = self.chunk_size
            item.local.parent.mkdir(parents=True, exist_ok=True)
            self._resume_state(item)
            item.task = self.progress.add_task(item.remote.name, total=item.entry.size)
            if not item.entry.ranges:
                item.done = set()
                item.remaining = 1
                work.append((item, None))
                continue
            missing = [n for n in range(1, item.chunks + 1) if n not in item.done]
            self.progress.update(
                item.task, completed=sum(e - s for s, e in map(item.bounds, item.done))
            )
            item.remaining = len(missing)
            if item.entry.size == 0 or not missing:
                self._finish(item)
                continue
            work += [(item, number) for number in missing]
        run_all(self.workers, [functools.partial(self._fetch, i, n) for i, n in work])
