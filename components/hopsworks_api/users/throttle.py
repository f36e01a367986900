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
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from hopsworks_api.clock import naive_utc
from hopsworks_api.errors import TooManyRequests
from hopsworks_api.runtime import Runtime
from hopsworks_api.users.models import LoginFailures

log = logging.getLogger(__name__)

RETRIES = 5  # two first failures of one key may race to insert it (or deadlock on MariaDB)


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
                _prune(session, now - window, now)
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


def _prune(session: Session, forgotten_before: datetime, now: datetime) -> None:
    """Rows nobody needs any more, so guessing at random addresses cannot grow the table
    without bound (the client key's back-off limits how fast one address can add rows)."""
    session.execute(
        delete(LoginFailures).where(
            LoginFailures.last_failure_at < forgotten_before,
            or_(LoginFailures.blocked_until.is_(None), LoginFailures.blocked_until <= now),
        )
    )
