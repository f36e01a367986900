"""Writing, reading and verifying the hash-chained audit log.

Each record's hash covers its own fields and the previous record's hash, and ids are
consecutive, so editing, deleting or inserting a row anywhere breaks the chain at that
row; the head row makes truncating the newest records visible too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hopsworks_api.audit.models import AuditHead, AuditRead, AuditRecord
from hopsworks_api.authz import Action
from hopsworks_api.db.base import utcnow
from hopsworks_api.projects import service as project_service
from hopsworks_api.runtime import Runtime
from hopsworks_api.schemas import Page, PageParams
from hopsworks_api.users.models import User

GENESIS = "0" * 64


@dataclass
class AuditEntry:
    actor: str
    project: str | None
    action: str
    target: str
    outcome: str
    status_code: int
    client: str


def _digest(prev_hash: str, record_id: int, ts: datetime, entry: AuditEntry) -> str:
    fields = [
        prev_hash,
        str(record_id),
        ts.isoformat(timespec="microseconds"),
        entry.actor,
        entry.project or "",
        entry.action,
        entry.target,
        entry.outcome,
        str(entry.status_code),
        entry.client,
    ]
    return hashlib.sha256("\x1f".join(fields).encode()).hexdigest()


def record(sessions: sessionmaker[Session], entry: AuditEntry) -> None:
    """Append one record; the head row is locked so the chain stays linear under load."""
    with sessions() as session:
        head = session.get(AuditHead, 1, with_for_update=True)
        assert head is not None, "migrations create the audit head"
        record_id = head.last_id + 1
        ts = utcnow()
        digest = _digest(head.last_hash, record_id, ts, entry)
        session.add(
            AuditRecord(
                id=record_id,
                ts=ts,
                actor=entry.actor[:254],
                project=entry.project[:63] if entry.project else None,
                action=entry.action[:64],
                target=entry.target[:1024],
                outcome=entry.outcome,
                status_code=entry.status_code,
                client=entry.client[:64],
                prev_hash=head.last_hash,
                hash=digest,
            )
        )
        head.last_id = record_id
        head.last_hash = digest
        session.commit()


@dataclass
class VerifyReport:
    checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _records(session: Session) -> Iterator[AuditRecord]:
    yield from session.scalars(
        select(AuditRecord).order_by(AuditRecord.id).execution_options(yield_per=1000)
    )


def verify(session: Session) -> VerifyReport:
    report = VerifyReport()
    expected_id, prev_hash = 1, GENESIS
    for row in _records(session):
        report.checked += 1
        if row.id != expected_id:
            report.problems.append(f"records {expected_id}..{row.id - 1} are missing")
        if row.prev_hash != prev_hash:
            report.problems.append(f"record {row.id}: does not follow the previous record")
        entry = AuditEntry(
            row.actor,
            row.project,
            row.action,
            row.target,
            row.outcome,
            row.status_code,
            row.client,
        )
        if _digest(row.prev_hash, row.id, row.ts, entry) != row.hash:
            report.problems.append(f"record {row.id}: content does not match its hash")
        expected_id, prev_hash = row.id + 1, row.hash
    head = session.get(AuditHead, 1)
    if head is None or head.last_id != expected_id - 1 or head.last_hash != prev_hash:
        last = head.last_id if head else "?"
        report.problems.append(
            f"the log ends at record {expected_id - 1} but its head says {last}: "
            "newest records were removed"
        )
    return report


def activity(rt: Runtime, *, user: User, project: str, page: PageParams) -> Page[AuditRead]:
    """The project's audit feed, newest first."""
    with rt.read_sessions() as session:
        access = project_service.authorize(
            session, project=project, user=user, action=Action.VIEW_PROJECT
        )
        where = AuditRecord.project == access.project
        total = session.scalar(select(func.count()).select_from(AuditRecord).where(where)) or 0
        rows = session.scalars(
            select(AuditRecord)
            .where(where)
            .order_by(AuditRecord.id.desc())
            .limit(page.limit)
            .offset(page.offset)
        ).all()
        items = [AuditRead.model_validate(r) for r in rows]
        return Page(items=items, total=total, limit=page.limit, offset=page.offset)
