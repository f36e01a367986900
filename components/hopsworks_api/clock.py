"""The service's notion of "now", injected through the runtime.

Token expiry and login back-off depend on time; reading it through one object lets tests
move time forward instead of sleeping, and keeps every such decision on the same clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to (tests)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)


def naive_utc(moment: datetime) -> datetime:
    """The DBs store naive UTC (see `db.base.utcnow`)."""
    return moment.astimezone(UTC).replace(tzinfo=None)
