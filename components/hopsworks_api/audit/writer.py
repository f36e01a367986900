"""Group commit of the request audit records.

Every audited request used to write its record in a transaction of its own: on SQLite one
write transaction per directory listing, each waiting for the database's single writer,
which made an audited read thirty times slower than a plain one (docs/performance.md). Here
records that arrive while a batch is being written wait for the next batch, and each batch
is one transaction. A request still finishes only once its record is committed (or its
failure logged), so nothing is answered that the log does not hold, and a crash loses at
most the records of requests that had not finished.
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections.abc import Callable

import anyio
from sqlalchemy.orm import Session, sessionmaker

from hopsworks_api.audit.service import AuditEntry, record_many


class AuditWriter:
    """`record` returns when the entry is committed. One batch queue per event loop: an
    app normally runs on one, but test clients and several server threads may drive the
    same app from several loops, and a future may only be resolved by its own loop."""

    def __init__(self, sessions: sessionmaker[Session], key: bytes) -> None:
        self._sessions = sessions
        self._key = key
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue] = (
            weakref.WeakKeyDictionary()
        )

    async def record(self, entry: AuditEntry) -> None:
        loop = asyncio.get_running_loop()
        queue = self._queues.get(loop)
        if queue is None:
            write = functools.partial(record_many, self._sessions, self._key)
            queue = self._queues[loop] = _Queue(write)
        await queue.record(entry, loop)


class _Queue:
    def __init__(self, write: Callable[[list[AuditEntry]], None]) -> None:
        self._write = write
        self._pending: list[tuple[AuditEntry, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, entry: AuditEntry, loop: asyncio.AbstractEventLoop) -> None:
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((entry, future))
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._write_all())
        # shielded: a request cancelled meanwhile still has its record written
        await asyncio.shield(future)

    async def _write_all(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await anyio.to_thread.run_sync(self._write, [entry for entry, _ in batch])
            except Exception as error:  # every waiter logs it, as a single write did
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)
