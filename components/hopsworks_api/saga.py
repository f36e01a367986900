"""Run the steps of a multi-system change so that it completes or is undone.

Each step registers how to undo itself; if a later step (or the final DB commit) fails,
the registered undos run newest first. Undo failures are logged, never masking the cause.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import TracebackType
from typing import Any

from sqlalchemy.orm import Session

from hopsworks_api.backends.storage import StorageBackend

log = logging.getLogger(__name__)


class Saga:
    def __init__(self, name: str) -> None:
        self.name = name
        self._undo: list[tuple[str, Callable[[], None]]] = []

    def step(self, label: str, do: Callable[[], None], undo: Callable[[], None]) -> None:
        do()
        self._undo.append((label, undo))

    def __enter__(self) -> Saga:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            return
        for label, undo in reversed(self._undo):
            try:
                undo()
            except Exception:
                log.exception("compensation failed", extra={"saga": self.name, "step": label})


def commit_deletion(session: Session, storage: StorageBackend, trashed: Any) -> None:
    """Commit the DB half of a deletion whose files were already moved aside: if the commit
    fails the files come back; once it succeeded they are purged for good."""
    try:
        session.commit()
    except BaseException:
        storage.restore(trashed)
        raise
    storage.purge(trashed)
