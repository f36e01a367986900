"""Back-off for password guessing, per account and per client address.

Each password check is counted as a failure *before* the (slow) check runs and taken back
when it succeeds, so a burst of concurrent guesses cannot slip past the limit while the
first ones are still being verified. Once a key reaches its limit, every further failure
blocks it for 1 s, 2 s, 4 s, ... up to `login_backoff_max_seconds`; attempts made while
blocked are refused with 429 without being counted, so an attacker cannot push the block
further out than the cap. A successful login clears the account's count; counts are also
forgotten after `login_failure_window_seconds` without a failure.

The state is in the metadata DB (keys are SHA-256 of the email or address, so typed-in
addresses of accounts that do not exist are not kept) because every service instance
behind a load balancer must see the same counts.

Concurrency on MariaDB: a key's row is created in a short transaction of its own before
the counting one locks it, so the counting transactions only ever take record locks on
rows that exist, in one order (sorted keys), and queue instead of deadlocking. Locking a
key that has no row yet would take gap locks that a burst of first guesses then
deadlocks on when each inserts its row; the old rows are pruned in a transaction of their
own, only when a row was added (the only way the table grows).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Insert, delete, or_, select
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from hopsworks_api.clock import naive_utc
from hopsworks_api.db.busy import lost_lock_wait
from hopsworks_api.errors import TooManyRequests
from hopsworks_api.runtime import Runtime
from hopsworks_api.users.models import LoginFailures

log = logging.getLogger(__name__)

RETRIES = 5  # a row pruned before it was locked, or a prune's range lock in the way: again


@dataclass(frozen=True)
class Keys:
    account: str
    client: str


def keys_for(*, email: str, client: str) -> Keys:
    def digest(kind: str, value: str) -> str:
        return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()}"

    return Keys(account=digest("account", email.lower()), client=digest("client", client))


def backoff_seconds(failures: int, limit: int, cap: int) -> int:
    """0 below the limit, then 1, 2, 4, ... seconds, never more than `cap`."""
    if failures < limit:
        return 0
    return min(cap, 2 ** min(failures - limit, 30))


def begin_attempt(rt: Runtime, *, keys: Keys, email: str, client: str) -> None:
    """Count a password check as failed until `succeeded` says otherwise; 429 with
    `Retry-After` while either key is backing off."""
    settings = rt.settings
    limits = {keys.account: settings.login_account_max_failures}
    limits[keys.client] = settings.login_client_max_failures
    now = naive_utc(rt.clock.now())
    window = timedelta(seconds=settings.login_failure_window_seconds)
    for attempt in range(RETRIES):
        try:
            if _create_missing(rt, sorted(limits), now):
                _prune(rt, now - window, now)
            started: list[str] = []
            with rt.sessions() as session:
                rows = {key: _locked(session, key) for key in sorted(limits)}
                waits = [
                    (row.blocked_until - now).total_seconds()
                    for row in rows.values()
                    if row is not None and row.blocked_until is not None and row.blocked_until > now
                ]
                if waits:
                    raise TooManyRequests(
                        "too many failed sign-in attempts; try again later",
                        retry_after=max(waits),
                    )
                for key, row in rows.items():
                    if row is None:
                        row = LoginFailures(key=key, failures=0, last_failure_at=now)
                        session.add(row)
                    elif row.last_failure_at < now - window:
                        row.failures = 0
                    row.failures += 1
                    row.last_failure_at = now
                    delay = backoff_seconds(
                        row.failures, limits[key], settings.login_backoff_max_seconds
                    )
                    row.blocked_until = now + timedelta(seconds=delay) if delay else None
                    if row.failures == limits[key]:
                        started.append("account" if key == keys.account else "client")
                session.commit()
            for kind in started:  # for the operator: someone may be guessing passwords
                log.warning(
                    "failed sign-ins reached the limit; back-off started",
                    extra={"throttled": kind, "email": email, "client": client},
                )
            return
        except (IntegrityError, OperationalError):
            if attempt == RETRIES - 1:
                raise


def succeeded(rt: Runtime, *, keys: Keys) -> None:
    """The password was right: the account starts afresh, and the client address gets
    back the failure `begin_attempt` counted in advance."""
    with rt.sessions() as session:
        session.execute(delete(LoginFailures).where(LoginFailures.key == keys.account))
        row = _locked(session, keys.client)
        if row is not None:
            row.failures = max(0, row.failures - 1)
            if row.failures < rt.settings.login_client_max_failures:
                row.blocked_until = None
        session.commit()


def clear(rt: Runtime, *, email: str) -> None:
    """Lift an account's back-off (an admin's escape hatch)."""
    key = keys_for(email=email, client="").account
    with rt.sessions() as session:
        session.execute(delete(LoginFailures).where(LoginFailures.key == key))
        session.commit()


def _locked(session: Session, key: str) -> LoginFailures | None:
    return session.scalar(select(LoginFailures).where(LoginFailures.key == key).with_for_update())


def _create_missing(rt: Runtime, keys: list[str], now: datetime) -> bool:
    """Give every key a row (no failures yet) in a transaction of its own; whether any
    was added. Rows that exist are not touched, so this does not wait on their locks."""
    with rt.sessions() as session:
        present = set(session.scalars(select(LoginFailures.key).where(LoginFailures.key.in_(keys))))
        missing = [
            {"key": key, "failures": 0, "last_failure_at": now, "blocked_until": None}
            for key in keys
            if key not in present
        ]
        if not missing:
            return False
        session.execute(_insert_unless_present(session), missing)
        session.commit()
    return True


def _insert_unless_present(session: Session) -> Insert:
    """A concurrent first guess may have added the same key meanwhile: theirs stands."""
    if session.get_bind().dialect.name == "sqlite":
        return sqlite.insert(LoginFailures).on_conflict_do_nothing(index_elements=["key"])
    return mysql.insert(LoginFailures).prefix_with("IGNORE")


def _prune(rt: Runtime, forgotten_before: datetime, now: datetime) -> None:
    """Rows nobody needs any more, so guessing at random addresses cannot grow the table
    without bound (the client key's back-off limits how fast one address can add rows).
    Housekeeping: when it collides with a concurrent count, the next new row prunes."""
    try:
        with rt.sessions() as session:
            session.execute(
                delete(LoginFailures).where(
                    LoginFailures.last_failure_at < forgotten_before,
                    or_(LoginFailures.blocked_until.is_(None), LoginFailures.blocked_until <= now),
                )
            )
            session.commit()
    except OperationalError as exc:
        if not lost_lock_wait(exc):
            raise
        log.info("login failures not pruned this time: a concurrent sign-in held the rows")
