"""Turn a lost lock wait into the API's 503 `busy`, never a 500.

One lock order (projects.service.lock) keeps the project use cases free of deadlocks
between themselves, but InnoDB can still give up on a transaction for reasons no order
rules out: a lock wait longer than `innodb_lock_wait_timeout` (a backend step that is slow
while a transaction holds its project's lock), or a deadlock with a use case outside that
order. The transaction was rolled back by the DB and its saga undone on the way out, so
nothing of the request remains and it can simply be sent again: 503 with `Retry-After`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import OperationalError

from hopsworks_api.errors import Unavailable

DEADLOCK = 1213  # ER_LOCK_DEADLOCK
LOCK_WAIT_TIMEOUT = 1205  # ER_LOCK_WAIT_TIMEOUT
RETRY_AFTER_SECONDS = 1


def lost_lock_wait(exc: BaseException) -> bool:
    """Whether MariaDB/MySQL rolled the transaction back because of a lock wait."""
    if not isinstance(exc, OperationalError):
        return False
    args = getattr(exc.orig, "args", ())
    return bool(args) and args[0] in (DEADLOCK, LOCK_WAIT_TIMEOUT)


@contextmanager
def busy_on_lock_conflict(what: str) -> Iterator[None]:
    """Wrap a whole use case (outside its session and saga, which clean up first)."""
    try:
        yield
    except OperationalError as exc:
        if not lost_lock_wait(exc):
            raise
        raise Unavailable(
            f"{what} collided with concurrent changes and was not done; try again",
            code="busy",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        ) from exc
