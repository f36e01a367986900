"""Converges of the same project run one at a time in a process.

Two changes of one project converging at once could interleave: the older one, having read
the DB before the newer one committed, could re-grant what the newer one just revoked.
Serialising per project name (acquired in sorted order, so never a deadlock) closes that in
a process; between instances the leader's periodic repair closes it (docs/architecture.md).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager


class NameLocks:
    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.RLock] = {}

    def _lock(self, name: str) -> threading.RLock:
        with self._guard:
            return self._locks.setdefault(name, threading.RLock())

    @contextmanager
    def hold(self, names: Iterable[str]) -> Iterator[None]:
        with ExitStack() as stack:
            for name in sorted(set(names)):
                stack.enter_context(self._lock(name))
            yield
