"""A named lease in the metadata DB: at most one instance holds it at a time.

Every instance runs the same code against the same DB; the lease picks the one that does
cluster-wide work. Taking it is one conditional UPDATE (the row is expired) or, the very
first time, one INSERT (the primary key lets only one win), so it is atomic on SQLite and
MariaDB alike without locks held across calls. Each acquisition increases the row's
fencing token: a holder that paused past its expiry (GC, a frozen VM, a lost network) finds
on waking that the row names another holder or token, and `check()` tells it to stop before
it commits anything more.

Time comes from the runtime's clock, so tests move it instead of sleeping; instances of a
cluster must keep their clocks in sync (NTP) to well under the lease duration.
"""

from __future__ import annotations

import os
import secrets
import socket
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from hopsworks_api.clock import Clock, naive_utc
from hopsworks_api.coordination.models import LeaseRow
from hopsworks_api.db.busy import lost_lock_wait


class LeaseLost(RuntimeError):
    """The lease expired or another instance took it: the work must stop."""


def instance_id() -> str:
    """Host, process and a random part: unique even when a pid is reused after a restart."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def dead_local_holder(holder: str) -> bool:
    """Whether `holder` (an `instance_id`) ran on this host in a process that no longer
    exists. A pid reused since answers "alive", which only means waiting for the expiry;
    taking over wrongly is harmless too, since the fencing token stops the old holder."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # someone else's process: alive
        return False
    return False


class Lease:
    """One instance's handle on the lease `name`; `token` is set while it believes it holds
    the lease (the DB is the judge: see `still_held`)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        name: str,
        *,
        duration_seconds: float,
        holder: str | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self.name = name
        self.holder = holder or instance_id()
        self._duration = timedelta(seconds=duration_seconds)
        self.token: int | None = None

    def _now(self) -> datetime:
        return naive_utc(self._clock.now())

    def acquire(self) -> int | None:
        """Take the lease if it is free or expired; returns the new fencing token, or None
        while another holder's lease runs (or another instance won a simultaneous try)."""
        try:
            self.token = self._take_expired()
        except OperationalError as exc:
            if not lost_lock_wait(exc):  # MariaDB gave up on a try that collided: theirs
                raise
            self.token = None
        return self.token

    def _take_expired(self) -> int | None:
        now = self._now()
        with self._sessions() as session:
            current = session.scalar(select(LeaseRow.holder).where(LeaseRow.name == self.name))
            # a holder on this host whose process is gone (killed; restarted service) cannot
            # renew: take over now rather than after its expiry. The conditional UPDATE names
            # it, so a live instance that took the lease meanwhile keeps it.
            free = LeaseRow.expires_at <= now
            if current is not None and dead_local_holder(current):
                free = free | (LeaseRow.holder == current)
            taken = session.execute(
                update(LeaseRow)
                .where(LeaseRow.name == self.name, free)
                .values(
                    holder=self.holder, token=LeaseRow.token + 1, expires_at=now + self._duration
                )
            ).rowcount
            token = session.scalar(select(LeaseRow.token).where(LeaseRow.name == self.name))
            session.commit()
        if taken:
            return token
        return None if token is not None else self._create()

    def _create(self) -> int | None:
        """The very first acquisition, in a transaction of its own: on MariaDB the UPDATE
        that found no row left gap locks that would deadlock two such inserts."""
        with self._sessions() as session:
            try:
                session.execute(
                    insert(LeaseRow).values(
                        name=self.name,
                        holder=self.holder,
                        token=1,
                        expires_at=self._now() + self._duration,
                    )
                )
                session.commit()
            except IntegrityError:  # another instance inserted first: theirs
                return None
        return 1

    def renew(self) -> bool:
        """Extend a lease still held; False (and the token forgotten) once it was lost. An
        expired lease is not renewed even if nobody took it: work may have run unprotected
        in between, so the holder acquires again and gets a new token."""
        if self.token is None:
            return False
        now = self._now()
        with self._sessions() as session:
            renewed = session.execute(
                update(LeaseRow)
                .where(
                    LeaseRow.name == self.name,
                    LeaseRow.holder == self.holder,
                    LeaseRow.token == self.token,
                    LeaseRow.expires_at > now,
                )
                .values(expires_at=now + self._duration)
            ).rowcount
            session.commit()
        if not renewed:
            self.token = None
        return bool(renewed)

    def release(self) -> None:
        """Expire the lease now (shutdown), so another instance takes over without waiting."""
        if self.token is None:
            return
        with self._sessions() as session:
            session.execute(
                update(LeaseRow)
                .where(
                    LeaseRow.name == self.name,
                    LeaseRow.holder == self.holder,
                    LeaseRow.token == self.token,
                )
                .values(expires_at=self._now())
            )
            session.commit()
        self.token = None

    def still_held(self) -> bool:
        """Whether the DB still names this holder and token with an unexpired lease: what
        work asks before it commits a side effect."""
        if self.token is None:
            return False
        with self._sessions() as session:
            row = session.get(LeaseRow, self.name)
            return (
                row is not None
                and row.holder == self.holder
                and row.token == self.token
                and row.expires_at > self._now()
            )

    def check(self) -> int:
        """The fencing token, or LeaseLost when this instance no longer holds the lease."""
        if not self.still_held():
            raise LeaseLost(f"lease {self.name!r} lost by {self.holder}")
        assert self.token is not None
        return self.token
