"""Where a read-only use case runs: on the event loop when every system it touches answers
from this machine in microseconds, in the thread pool otherwise.

FastAPI runs each plain `def` endpoint and dependency in a worker thread. With the
embedded SQLite database a hot read (authenticate, authorise, list) is a few indexed
lookups of tens of microseconds each, and the hop to a thread and back cost more than the
work itself: two hops per request (principal, endpoint) made the authenticated reads
several times slower than the framework allows (docs/performance.md). So on SQLite with the
embedded storage those reads run inline on the loop; on MariaDB or WebHDFS, where a query
is a network round trip that must not stall every other request, they keep the thread.
WAL readers never wait for writers, so an inline read does not block the loop on a lock.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import anyio

from hopsworks_api.runtime import Runtime

P = ParamSpec("P")
T = TypeVar("T")


async def run_read(rt: Runtime, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a read-only use case where it is cheapest (see the module's docstring)."""
    if rt.inline_reads:
        return fn(*args, **kwargs)
    return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))
