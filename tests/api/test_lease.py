"""The DB lease on its own, on SQLite and MariaDB, with a clock the test moves."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hopsworks_api.clock import ManualClock
from hopsworks_api.coordination.lease import Lease, LeaseLost

DURATION = 10


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def lease(sessions: sessionmaker[Session], clock: ManualClock, holder: str) -> Lease:
    return Lease(sessions, clock, "work", duration_seconds=DURATION, holder=holder)


def test_one_holder_at_a_time_until_the_lease_expires(sessions, clock):
    a, b = lease(sessions, clock, "a"), lease(sessions, clock, "b")
    assert a.acquire() == 1
    assert b.acquire() is None
    clock.advance(DURATION - 1)
    assert b.acquire() is None
    clock.advance(1)
    assert b.acquire() == 2  # expired: taken over, under a larger token


def test_renewal_keeps_the_lease_and_its_token(sessions, clock):
    a, b = lease(sessions, clock, "a"), lease(sessions, clock, "b")
    token = a.acquire()
    for _ in range(3):
        clock.advance(DURATION - 1)
        assert a.renew()
        assert b.acquire() is None
    assert a.check() == token


def test_a_stale_holder_is_fenced_off(sessions, clock):
    a, b = lease(sessions, clock, "a"), lease(sessions, clock, "b")
    old = a.acquire()
    clock.advance(DURATION)  # `a` paused past its expiry
    assert not a.still_held()
    new = b.acquire()
    assert new is not None and old is not None and new > old
    with pytest.raises(LeaseLost):
        a.check()
    assert not a.renew()  # it cannot extend what is now b's
    assert b.check() == new
    assert a.acquire() is None  # and must wait like any standby


def test_an_expired_lease_is_not_renewed_but_acquired_again_under_a_new_token(sessions, clock):
    a = lease(sessions, clock, "a")
    first = a.acquire()
    clock.advance(DURATION + 1)
    assert not a.renew()
    second = a.acquire()
    assert first is not None and second is not None and second > first


def test_release_lets_a_peer_take_over_at_once(sessions, clock):
    a, b = lease(sessions, clock, "a"), lease(sessions, clock, "b")
    a.acquire()
    a.release()
    assert b.acquire() == 2
    assert not a.still_held()


def test_standbys_racing_for_a_new_lease_leave_one_winner(sessions, clock):
    holders = [lease(sessions, clock, name) for name in "abcd"]
    start = threading.Barrier(len(holders))

    def race(h: Lease) -> int | None:
        start.wait()
        return h.acquire()

    with ThreadPoolExecutor(len(holders)) as pool:
        tokens = list(pool.map(race, holders))
    assert sorted(tokens, key=lambda t: t is None) == [1, None, None, None]


def test_a_holder_on_this_host_whose_process_died_is_taken_over_at_once(sessions, clock):
    """A restarted service need not wait out the lease its killed predecessor held; a live
    local holder, or one on another host, keeps it until it expires."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid that no longer runs
    host = socket.gethostname()
    dead = lease(sessions, clock, f"{host}:{gone.pid}:dead")
    assert dead.acquire() == 1
    alive = lease(sessions, clock, f"{host}:{os.getpid()}:alive")
    assert alive.acquire() == 2  # no time passed: the dead holder was taken over
    with pytest.raises(LeaseLost):
        dead.check()
    assert lease(sessions, clock, f"{host}:{os.getpid()}:other").acquire() is None
    clock.advance(DURATION)
    remote = lease(sessions, clock, f"another-host:{gone.pid}:far")
    assert remote.acquire() == 3
    assert lease(sessions, clock, f"{host}:{os.getpid()}:other").acquire() is None
