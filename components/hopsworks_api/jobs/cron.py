"""Cron expressions of job schedules (UTC), read by croniter: the API's pattern checks only
the five-field shape, croniter the values ("61 * * * *" has the shape, not a meaning)."""

from __future__ import annotations

from datetime import datetime

from croniter import CroniterError, croniter

from hopsworks_api.clock import Clock, naive_utc
from hopsworks_api.errors import BadRequest


def next_run(expression: str | None, clock: Clock) -> datetime | None:
    """The first fire time strictly after now (naive UTC, as the DB stores times); None
    without a schedule. Strictly after: a run claimed at its fire time is not due again.
    An expression that is malformed or never fires ("0 0 31 2 *") is a 400."""
    if expression is None:
        return None
    now = naive_utc(clock.now())
    try:
        if croniter.is_valid(expression):
            return croniter(expression, now).get_next(datetime)
    except CroniterError:
        pass
    raise BadRequest(
        f"schedule '{expression}' is not a cron expression that fires "
        "(minute hour day month weekday, UTC)",
        code="bad_schedule",
    )
