"""Apply a recorded change: converge its projects, then finish it in one DB transaction.

Finishing is where the DB follows the systems: a project being deleted loses its row once no
system holds it any more, and a certificate of someone who is no longer a member of its
project is revoked (its CRL published after the commit). The request path and the journal
worker both end here, so a change interrupted by a crash finishes the same way.

A change that fails in a system is compensated by the use case that made it: `undo` reverts
its DB rows in a new transaction, and the same converge then takes every system back to the
DB. If a system is still down the entry stays in the journal and the worker finishes the
compensation when it answers again; the caller gets the first failure (503 naming it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from sqlalchemy import and_, delete, exists, or_, select
from sqlalchemy.orm import Session

from hopsworks_api.clock import naive_utc
from hopsworks_api.datasets.models import Dataset, UploadReservation
from hopsworks_api.members.models import Membership
from hopsworks_api.pki import service as pki_service
from hopsworks_api.pki.models import Certificate, CertKind, CertStatus
from hopsworks_api.projects.models import Project, ProjectStatus
from hopsworks_api.provisioning import journal
from hopsworks_api.provisioning.converge import converge
from hopsworks_api.provisioning.desired import related
from hopsworks_api.runtime import Runtime

log = logging.getLogger(__name__)

Undo = Callable[[Session], None]


def apply(rt: Runtime, change: journal.Change, *, undo: Undo | None) -> None:
    """`undo` None: the change only rolls forward (nothing can bring back what it removed
    from the DB); a failure is left to the journal worker and the caller succeeds."""
    try:
        converge_and_finish(rt, change)
    except Exception:
        if undo is None:
            log.warning(
                "change left to the journal worker",
                extra={"change": change.id, "reason": change.reason},
                exc_info=True,
            )
            _release(rt, change)
            return
        _compensate(rt, change, undo)
        raise


def _compensate(rt: Runtime, change: journal.Change, undo: Undo) -> None:
    try:
        with rt.sessions() as session:
            undo(session)
            session.commit()
        converge_and_finish(rt, change)
    except Exception:
        log.warning(
            "compensation unfinished: the journal worker completes it",
            extra={"change": change.id, "reason": change.reason},
            exc_info=True,
        )
        _release(rt, change)


def converge_and_finish(rt: Runtime, change: journal.Change) -> None:
    """Under the scope's converge locks until the finish committed: a second change of the
    same projects must not finish them at the same time (two finishes deleting the same
    rows deadlock on MariaDB), nor converge from a DB read taken before this finish."""
    with rt.provisioning_locks.hold(change.scope):
        report = converge(rt, change.scope, strict=True)
        finish(rt, change, removed=report.removed)


def finish(rt: Runtime, change: journal.Change, *, removed: list[str]) -> None:
    """`removed`: the projects the converge tore down. Only those lose their rows: a pass
    that read the DB before a deletion committed (another change of the same project) did
    not tear it down, and the deletion's own pass will."""
    uploads: list[tuple[str, str, str]] = []
    with rt.sessions() as session:
        deleting = session.execute(
            select(Project.id, Project.name)
            .where(Project.name.in_(removed), Project.status == ProjectStatus.DELETING)
            .order_by(Project.id)
        ).all()
        # the rows exclusively first, in id order, before any certificate or membership
        # row (projects.service.lock's order): an account deletion that already holds one
        # of them shared then finishes first, instead of both waiting on each other's rows
        for project_id, _name in deleting:
            session.execute(
                select(Project.id).where(Project.id == project_id).with_for_update()
            ).all()
        issuers: set[int] = set()
        for project_id, name in deleting:
            uploads += [
                (name, dataset, token)
                for dataset, token in session.execute(
                    select(Dataset.name, UploadReservation.token)
                    .join(Dataset, Dataset.id == UploadReservation.dataset_id)
                    .where(UploadReservation.project_id == project_id)
                )
            ]
            issuers |= pki_service.revoke(session, reason="project deleted", project_id=project_id)
            session.execute(delete(Project).where(Project.id == project_id))
        issuers |= _revoke_non_members(session, change.scope)
        journal.forget(session, change.id)
        session.commit()
    rt.executions.wake()  # (jobs.watch) for changes the journal worker finishes
    for project, dataset, token in uploads:
        rt.backends.storage.discard_upload(project, dataset, token)
    pki_service.publish_crls(rt, issuers)


def _revoke_non_members(session: Session, scope: frozenset[str]) -> set[int]:
    """Certificates of project users who left (or whose account or project went, also by a
    compensation that removed the rows) stop working."""
    member = exists().where(
        and_(
            Membership.project_id == Certificate.project_id,
            Membership.user_id == Certificate.user_id,
        )
    )
    in_scope = select(Project.id).where(Project.name.in_(scope))
    stale = session.execute(
        select(Certificate.id, Certificate.issuer).where(
            Certificate.kind == CertKind.PROJECT_USER,
            Certificate.status == CertStatus.VALID,
            or_(Certificate.project_id.is_(None), Certificate.project_id.in_(in_scope)),
            ~member,
        )
    ).all()
    for cert_id, _issuer in stale:
        pki_service.revoke(session, reason="member removed", id=cert_id)
    return {issuer for _id, issuer in stale}


def _release(rt: Runtime, change: journal.Change) -> None:
    try:
        with rt.sessions() as session:
            journal.release(session, change.id, now=naive_utc(rt.clock.now()))
            session.commit()
    except Exception:  # the entry is still due after its grace period
        log.warning("could not hand the change to the worker", extra={"change": change.id})


def commit_change(
    rt: Runtime,
    session: Session,
    *,
    reason: str,
    projects: Iterable[int],
    undo: Undo | None,
) -> None:
    """The common end of a use case: journal the change in the caller's transaction, with
    every project whose grants it can touch in scope, commit, and apply it."""
    scope: set[str] = set()
    for project_id in projects:
        scope |= related(session, project_id)
    change = journal.record(session, reason=reason, scope=scope, now=naive_utc(rt.clock.now()))
    session.commit()
    # runs of a member, project or account that is gone end now, not at the next beat
    rt.executions.wake()
    apply(rt, change, undo=undo)
