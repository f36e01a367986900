"""Periodic jobs that run once per cluster: the instance holding the `periodic` lease runs
them all; the others stand by and take over when its lease expires.

A job is a name, its interval (read from the settings; 0 switches it off), a callable
taking the runtime and the `Lease` it runs under, and optionally one run once as soon as
the instance takes the lead (what a dead leader left). A job that commits side effects in
several steps calls `lease.check()` before each: once the lease is lost it raises
`LeaseLost` and the job stops, and the new holder picks the work up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import anyio

from hopsworks_api.config import Settings
from hopsworks_api.coordination.lease import Lease, LeaseLost
from hopsworks_api.runtime import Runtime

log = logging.getLogger(__name__)

LEASE_NAME = "periodic"


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    interval: Callable[[Settings], float]
    run: Callable[[Runtime, Lease], object]
    # Run once, at once, when this instance takes the lead (at start, or on taking over
    # from a dead leader), before the first interval: work the last leader left behind.
    on_taking_lead: Callable[[Runtime, Lease], object] | None = None


def unfenced(job: Callable[[Runtime], object]) -> Callable[[Runtime, Lease], object]:
    """For jobs that are one idempotent pass: the runner's check before each run suffices."""
    return lambda rt, _lease: job(rt)


async def run_periodic_jobs(rt: Runtime, jobs: Sequence[PeriodicJob]) -> None:
    """Stand by for the lease, run the jobs while holding it, stand by again once it is
    lost; on cancellation (shutdown) the lease is released so a peer takes over at once."""
    settings = rt.settings
    active = [(job, job.interval(settings)) for job in jobs if job.interval(settings) > 0]
    if not active:
        return
    lease = Lease(
        rt.sessions, rt.clock, LEASE_NAME, duration_seconds=settings.lease_duration_seconds
    )
    try:
        while True:
            try:
                token = await anyio.to_thread.run_sync(lease.acquire)
            except Exception:
                log.exception("periodic lease: acquire failed", extra={"holder": lease.holder})
                token = None
            if token is not None:
                log.info(
                    "periodic lease taken: this instance runs the periodic jobs",
                    extra={"holder": lease.holder, "fencing_token": token},
                )
                await _lead(rt, lease, active)
                log.warning("periodic lease lost: standing by", extra={"holder": lease.holder})
            await anyio.sleep(settings.lease_renew_seconds)
    finally:
        with anyio.CancelScope(shield=True):
            try:
                await anyio.to_thread.run_sync(lease.release)
            except Exception:
                log.exception("periodic lease: release failed", extra={"holder": lease.holder})


async def _lead(rt: Runtime, lease: Lease, jobs: Sequence[tuple[PeriodicJob, float]]) -> None:
    """Run every job on its interval and renew the lease; return once the lease is lost."""
    async with anyio.create_task_group() as tasks:
        for job, interval in jobs:
            tasks.start_soon(_every, rt, lease, job, interval)
        await _keep(lease, rt.settings.lease_renew_seconds)
        tasks.cancel_scope.cancel()


async def _keep(lease: Lease, every: float) -> None:
    while True:
        await anyio.sleep(every)
        try:
            if not await anyio.to_thread.run_sync(lease.renew):
                return
        except Exception:  # unsure whether we still hold it: stop rather than run twice
            log.exception("periodic lease: renew failed", extra={"holder": lease.holder})
            lease.token = None
            return


async def _every(rt: Runtime, lease: Lease, job: PeriodicJob, interval: float) -> None:
    """Drift from outside the service heals by itself and usage built up outside it is
    charged, on whichever instance leads."""
    if job.on_taking_lead is not None and not await _once(rt, lease, job, job.on_taking_lead):
        return
    while True:
        await anyio.sleep(interval)
        if not await _once(rt, lease, job, job.run):
            return


async def _once(
    rt: Runtime, lease: Lease, job: PeriodicJob, run: Callable[[Runtime, Lease], object]
) -> bool:
    """One pass, if the lease is still held; False once it is lost."""
    try:
        token = await anyio.to_thread.run_sync(lease.check)
        await anyio.to_thread.run_sync(run, rt, lease)
    except LeaseLost:
        return False
    except Exception:
        log.exception("periodic task failed", extra={"task": job.name})
    else:
        log.info(
            "periodic task ran",
            extra={"task": job.name, "holder": lease.holder, "fencing_token": token},
        )
    return True
