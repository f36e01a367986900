"""Record, reschedule and forget journal entries; the worker and the request path share it."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hopsworks_api.provisioning.models import ProvisioningChange

# A change is the request's to apply first; the worker takes it over only after this long
# (or at once when the request gave up on it), so the two rarely converge the same change.
REQUEST_GRACE = timedelta(seconds=5)
MAX_BACKOFF = timedelta(seconds=60)


@dataclass(frozen=True)
class Change:
    id: int
    scope: frozenset[str]
    reason: str


def record(session: Session, *, reason: str, scope: Iterable[str], now: datetime) -> Change:
    """Add the entry to the caller's transaction: it commits with the DB change or not at all."""
    names = frozenset(scope)
    row = ProvisioningChange(
        reason=reason,
        scope_json=json.dumps(sorted(names)),
        next_attempt_at=now + REQUEST_GRACE,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return Change(row.id, names, reason)


def due(session: Session, *, now: datetime, limit: int = 50) -> list[Change]:
    rows = session.scalars(
        select(ProvisioningChange)
        .where(ProvisioningChange.next_attempt_at <= now)
        .order_by(ProvisioningChange.id)
        .limit(limit)
    )
    return [Change(row.id, row.scope, row.reason) for row in rows]


def forget(session: Session, change_id: int) -> None:
    session.execute(delete(ProvisioningChange).where(ProvisioningChange.id == change_id))


def release(session: Session, change_id: int, *, now: datetime) -> None:
    """The request gave up on the change: the worker may take it at once."""
    row = session.get(ProvisioningChange, change_id)
    if row is not None:
        row.next_attempt_at = now


def reschedule(session: Session, change_id: int, *, error: str, now: datetime) -> None:
    """Exponential backoff, capped: a system that is down is not hammered, and it is tried
    again within a minute once it is back."""
    row = session.get(ProvisioningChange, change_id)
    if row is None:
        return
    row.attempts += 1
    delay = min(timedelta(seconds=2 ** min(row.attempts, 10)), MAX_BACKOFF)
    row.next_attempt_at = now + delay
    row.last_error = error[:1000]


@dataclass(frozen=True)
class Waiting:
    """A change not finished yet, as an operator sees it (`hops reconcile`)."""

    id: int
    reason: str
    scope: frozenset[str]
    attempts: int
    next_attempt_at: datetime
    last_error: str | None


def waiting(session: Session) -> list[Waiting]:
    rows = session.scalars(select(ProvisioningChange).order_by(ProvisioningChange.id))
    return [
        Waiting(r.id, r.reason, r.scope, r.attempts, r.next_attempt_at, r.last_error) for r in rows
    ]
