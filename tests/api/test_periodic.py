"""The periodic-job runner: two instances' runners on one DB, in one process."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import anyio
from sqlalchemy.orm import Session, sessionmaker

from hopsworks_api.clock import Clock, ManualClock
from hopsworks_api.config import Settings
from hopsworks_api.coordination.lease import Lease
from hopsworks_api.coordination.periodic import PeriodicJob, run_periodic_jobs

LEASE_SECONDS = 60  # far longer than any test waits: a hand-over within it is not expiry


@dataclass
class Instance:
    """What the runner reads of a runtime."""

    settings: Settings
    sessions: sessionmaker[Session]
    clock: Clock


def instance(sessions: sessionmaker[Session], clock: Clock) -> Any:
    settings = Settings(lease_duration_seconds=LEASE_SECONDS, lease_renew_seconds=0.05)
    return Instance(settings, sessions, clock)


def probe(runs: list[tuple[str, int]]) -> PeriodicJob:
    """A fenced job that records which holder ran it under which token."""

    def run(_rt: object, lease: Lease) -> None:
        runs.append((lease.holder, lease.check()))

    return PeriodicJob("probe", lambda _settings: 0.02, run)


async def until(condition: Callable[[], bool], timeout: float = 20) -> None:
    with anyio.fail_after(timeout):
        while not condition():
            await anyio.sleep(0.01)


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    """Run in a thread of its own: closing an event loop in the main thread would unset the
    main thread's loop, which later tests (the Pulumi programs') rely on."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(anyio.run, scenario).result()


def terms(runs: list[tuple[str, int]]) -> dict[int, set[str]]:
    found: dict[int, set[str]] = {}
    for holder, token in runs:
        found.setdefault(token, set()).add(holder)
    return found


def test_one_runner_leads_and_a_stopped_one_hands_over_at_once(sessions):
    runs: list[tuple[str, int]] = []
    clock = ManualClock()

    async def scenario() -> None:
        async with anyio.create_task_group() as tasks:
            first = anyio.CancelScope()

            async def run_first() -> None:
                with first:
                    await run_periodic_jobs(instance(sessions, clock), [probe(runs)])

            tasks.start_soon(run_first)
            await until(lambda: len(runs) > 0)
            tasks.start_soon(run_periodic_jobs, instance(sessions, clock), [probe(runs)])
            await until(lambda: len(runs) > 10)  # the standby tried all along
            assert len(terms(runs)) == 1
            first.cancel()  # a clean stop releases the lease
            await until(lambda: len(terms(runs)) == 2)
            tasks.cancel_scope.cancel()

    run(scenario)
    (old, new) = sorted(terms(runs).items())
    assert old[0] < new[0] and old[1] != new[1]


def test_a_holder_past_its_lease_stops_and_a_new_term_begins(sessions):
    """The clock jumps past the lease (as if the holder had stalled): its renewal and its
    checks fail, so it runs nothing more under its token; whichever runner takes the
    lease next runs the jobs under a new one."""
    runs: list[tuple[str, int]] = []
    clock = ManualClock()

    async def scenario() -> None:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(run_periodic_jobs, instance(sessions, clock), [probe(runs)])
            await until(lambda: len(runs) > 0)
            tasks.start_soon(run_periodic_jobs, instance(sessions, clock), [probe(runs)])
            await until(lambda: len(runs) > 5)
            clock.advance(LEASE_SECONDS)
            await until(lambda: len(terms(runs)) == 2)
            taken_over = len(runs)
            await until(lambda: len(runs) > taken_over + 10)
            tasks.cancel_scope.cancel()

    run(scenario)
    found = terms(runs)
    assert len(found) == 2 and all(len(holders) == 1 for holders in found.values()), found
    tokens = [token for _, token in runs]
    assert tokens == sorted(tokens)  # no run under the old token once the new term began


def test_a_job_runs_once_at_once_when_its_instance_takes_the_lead(sessions):
    runs: list[str] = []
    job = PeriodicJob(
        "journal",
        lambda _settings: 0.02,
        lambda _rt, _lease: runs.append("every interval"),
        on_taking_lead=lambda _rt, _lease: runs.append("on taking the lead"),
    )

    async def scenario() -> None:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(run_periodic_jobs, instance(sessions, ManualClock()), [job])
            await until(lambda: len(runs) > 3)
            tasks.cancel_scope.cancel()

    run(scenario)
    assert runs[0] == "on taking the lead"
    assert set(runs[1:]) == {"every interval"}
