"""The journal worker: finishes every change no request finished (a crash, a system that was
down, a compensation cut short). Run by the leader instance (coordination) every second and
at start, so after a `kill -9` the systems match the DB within seconds of the restart."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from hopsworks_api.clock import naive_utc
from hopsworks_api.provisioning import journal
from hopsworks_api.provisioning.apply import converge_and_finish
from hopsworks_api.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass
class DrainReport:
    finished: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)


def drain(
    rt: Runtime, *, everything: bool = False, check: Callable[[], None] = lambda: None
) -> DrainReport:
    """Apply every due change, oldest first (`everything`: also those still in their
    request's grace period, e.g. at start, when no request is left to apply them).
    `check` raises once this instance no longer holds the lease (fencing): checked before
    each change, so a deposed leader stops between changes."""
    report = DrainReport()
    with rt.read_sessions() as session:
        moment = naive_utc(rt.clock.now()) + (journal.REQUEST_GRACE if everything else timedelta(0))
        changes = journal.due(session, now=moment)
    for change in changes:
        check()
        try:
            converge_and_finish(rt, change)
            report.finished.append(change.id)
        except Exception as exc:
            message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            report.failed[change.id] = message
            log.warning(
                "change not applied yet",
                extra={"change": change.id, "reason": change.reason, "error": message},
            )
            with rt.sessions() as session:
                journal.reschedule(session, change.id, error=message, now=naive_utc(rt.clock.now()))
                session.commit()
    if report.finished:
        log.info("changes applied", extra={"changes": report.finished})
    return report
