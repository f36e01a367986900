"""Job schedules: a due job starts one execution per pass of the lease holder, claimed in
the DB, as its creator; runs missed while the service was down collapse into one."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from sqlalchemy import func, select

from hopsworks_api.clock import ManualClock, naive_utc
from hopsworks_api.coordination.lease import LeaseLost
from hopsworks_api.jobs.models import ACTIVE_STATES, Execution, Job
from hopsworks_api.jobs.schedules import fire_due
from hopsworks_api.runtime import Runtime
from tests.api.test_jobs import DEADLINE_S, J, make_job
from tests.support.api import Api


class HeldLease:
    def check(self) -> int:
        return 1


class LostLease:
    def check(self) -> int:
        raise LeaseLost("lost")


def next_run_at(rt: Runtime, name: str) -> datetime | None:
    with rt.read_sessions() as session:
        return session.scalar(select(Job.next_run_at).where(Job.name == name))


def executions(rt: Runtime) -> int:
    with rt.read_sessions() as session:
        return session.scalar(select(func.count()).select_from(Execution)) or 0


def settle(rt: Runtime) -> None:
    """The runs end before the test's DB goes (they are `pass`)."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        with rt.read_sessions() as session:
            active = session.scalar(
                select(func.count())
                .select_from(Execution)
                .where(Execution.state.in_(ACTIVE_STATES))
            )
        if not active:
            return
        time.sleep(0.05)
    raise AssertionError(f"executions still active after {DEADLINE_S}s")


@pytest.fixture
def rt(app) -> Runtime:  # type: ignore[no-untyped-def]
    runtime: Runtime = app.state.runtime
    runtime.clock = ManualClock()
    return runtime


def test_a_due_job_runs_once_and_missed_runs_collapse(api: Api, rt: Runtime):
    clock: ManualClock = rt.clock  # type: ignore[assignment]
    make_job(api, "scientist", "tick", b"pass", schedule="*/5 * * * *")
    due = next_run_at(rt, "tick")
    now = naive_utc(clock.now())
    assert due is not None and now < due and due.minute % 5 == 0
    assert (
        api.call("owner", "GET", f"{J}/tick").json()["next_run_at"].startswith(due.isoformat()[:16])
    )

    assert fire_due(rt, LostLease()) == [] and fire_due(rt, HeldLease()) == []  # not yet
    clock.advance((due - now).total_seconds())
    with pytest.raises(LeaseLost):  # the periodic runner stops on it; nothing was claimed
        fire_due(rt, LostLease())
    assert next_run_at(rt, "tick") == due and executions(rt) == 0
    assert len(fire_due(rt, HeldLease())) == 1
    assert fire_due(rt, HeldLease()) == []  # claimed: the same moment starts nothing more
    assert executions(rt) == 1 and (next_run_at(rt, "tick") - due).total_seconds() == 300

    clock.advance(3600)  # "down" for an hour: twelve runs missed, one starts
    assert len(fire_due(rt, HeldLease())) == 1
    assert fire_due(rt, HeldLease()) == [] and executions(rt) == 2
    assert next_run_at(rt, "tick") > naive_utc(clock.now())
    settle(rt)


def test_schedule_changes_and_creators_who_left(api: Api, rt: Runtime):
    make_job(api, "scientist", "nightly", b"pass", schedule="0 3 * * *")
    body = {"app_path": "Resources/jobs/nightly.py"}
    for bad in ("61 * * * *", "0 0 31 2 *"):  # the shape of cron, not a meaning / never fires
        reply = api.call("owner", "PUT", f"{J}/nightly", json={**body, "schedule": bad})
        assert (reply.status_code, reply.json()["error"]["code"]) == (400, "bad_schedule")
        reply = api.call("owner", "POST", J, json={**body, "name": "x", "schedule": bad})
        assert reply.status_code == 400
    assert api.call("owner", "PUT", f"{J}/nightly", json=body).json()["next_run_at"] is None
    reply = api.call("owner", "PUT", f"{J}/nightly", json={**body, "schedule": "* * * * *"})
    assert reply.json()["next_run_at"] is not None

    # the creator is no longer a member: the run is skipped, not retried in a loop
    scientist = api.email("scientist")
    assert api.call("owner", "DELETE", f"/api/projects/demo/members/{scientist}").status_code == 204
    rt.clock.advance(60)  # type: ignore[attr-defined]
    assert fire_due(rt, HeldLease()) == [] and executions(rt) == 0
    assert next_run_at(rt, "nightly") > naive_utc(rt.clock.now())
