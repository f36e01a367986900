"""Turn the DB's uniqueness verdict into the API's 409.

Races on names (projects, datasets, members, shares, keys) are decided by unique
constraints, not by a prior SELECT, so the answer is right under any concurrency.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hopsworks_api.errors import Conflict


def flush_unique(session: Session, conflict: str) -> None:
    """Flush pending rows; on a constraint violation roll back and raise 409 `conflict`."""
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(conflict) from exc


def commit_unique(session: Session, conflict: str) -> None:
    flush_unique(session, conflict)
    session.commit()
