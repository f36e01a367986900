"""Writing, reading and verifying the keyed hash chain of audit records.

Each record's hash is an HMAC-SHA256, under a key kept outside the DB (audit/keys.py), of
its own fields and the previous record's hash; ids are consecutive. Editing, deleting or
inserting a row anywhere breaks the chain at that row, and someone who can write the DB
but does not hold the key cannot recompute it. The head row names the newest record; a
signed checkpoint (`hops audit checkpoint`) kept elsewhere makes truncating the newest
records plus rewriting the head visible too.

Records written before the chain was keyed (installations older than migration 0007)
keep their plain SHA-256 hashes. At the first start with a key the service verifies that
legacy chain once and appends a *seal* record: its HMAC covers the legacy head hash, so
the legacy records cannot be rewritten afterwards either.

What is stored is exactly what is hashed: each field is sanitised and cut to its column
size once, before hashing (the old code hashed the full values and stored them cut, so a
long path made the log look tampered with forever).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session, sessionmaker

from hopsworks_api.audit.keys import fingerprint
from hopsworks_api.audit.models import AuditHead, AuditRead, AuditRecord
from hopsworks_api.authz import Action
from hopsworks_api.db.base import utcnow
from hopsworks_api.db.driver_reads import DriverSelect, read_cursor
from hopsworks_api.projects import service as project_service
from hopsworks_api.projects.models import Project
from hopsworks_api.runtime import Runtime
from hopsworks_api.schemas import Page, PageParams
from hopsworks_api.users.models import User

GENESIS = "0" * 64
SEAL_ACTION = "audit.seal"
SYSTEM_ACTOR = "system"
CHECKPOINT_VERSION = 1

# Column sizes of AuditRecord: a value is cut to these before it is hashed.
LIMITS = {"actor": 254, "project": 63, "action": 64, "target": 1024, "outcome": 16, "client": 64}
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


class AuditKeyMismatch(RuntimeError):
    """The chain is sealed under another key than the one this process holds."""


@dataclass(frozen=True)
class AuditEntry:
    actor: str
    project: str | None
    action: str
    target: str
    outcome: str
    status_code: int
    client: str
    project_id: int | None = None


def _sanitise(value: str, limit: int) -> str:
    """Escape what could forge a log line or a terminal (control, format and bidi
    characters, separators) and what a 3-byte utf8 column could not hold (astral
    characters), then cut to the column size: the result is stored byte for byte."""
    out = []
    for char in value:
        code = ord(char)
        if code > 0xFFFF:
            out.append(f"\\U{code:08x}")
        elif unicodedata.category(char) in _ESCAPED_CATEGORIES or char == "\\":
            out.append("\\\\" if char == "\\" else f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)[:limit]


def normalise(entry: AuditEntry) -> AuditEntry:
    """The entry exactly as its row will hold it."""
    return replace(
        entry,
        actor=_sanitise(entry.actor, LIMITS["actor"]),
        project=_sanitise(entry.project, LIMITS["project"]) if entry.project else None,
        action=_sanitise(entry.action, LIMITS["action"]),
        target=_sanitise(entry.target, LIMITS["target"]),
        outcome=_sanitise(entry.outcome, LIMITS["outcome"]),
        client=_sanitise(entry.client, LIMITS["client"]),
    )


def _legacy_digest(prev_hash: str, record_id: int, ts: datetime, entry: AuditEntry) -> str:
    """The unkeyed hash of records written before migration 0007 (kept to verify them)."""
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


def _keyed_digest(
    key: bytes, prev_hash: str, record_id: int, ts: datetime, entry: AuditEntry
) -> str:
    """HMAC-SHA256 over a JSON array of the fields: unambiguous whatever the fields hold."""
    fields = [
        prev_hash,
        record_id,
        ts.isoformat(timespec="microseconds"),
        entry.actor,
        entry.project,
        entry.project_id,
        entry.action,
        entry.target,
        entry.outcome,
        entry.status_code,
        entry.client,
    ]
    payload = json.dumps(fields, ensure_ascii=True, separators=(",", ":")).encode()
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


def _entry_of(row: AuditRecord) -> AuditEntry:
    return AuditEntry(
        actor=row.actor,
        project=row.project,
        action=row.action,
        target=row.target,
        outcome=row.outcome,
        status_code=row.status_code,
        client=row.client,
        project_id=row.project_id,
    )


def _append(session: Session, head: AuditHead, key: bytes, entry: AuditEntry) -> AuditRecord:
    """Add one record after the locked head; the caller commits."""
    stored = normalise(entry)
    record_id = head.last_id + 1
    ts = utcnow()
    digest = _keyed_digest(key, head.last_hash, record_id, ts, stored)
    row = AuditRecord(
        id=record_id,
        ts=ts,
        actor=stored.actor,
        project=stored.project,
        project_id=stored.project_id,
        action=stored.action,
        target=stored.target,
        outcome=stored.outcome,
        status_code=stored.status_code,
        client=stored.client,
        prev_hash=head.last_hash,
        hash=digest,
    )
    session.add(row)
    head.last_id = record_id
    head.last_hash = digest
    return row


def _locked_head(session: Session) -> AuditHead:
    head = session.get(AuditHead, 1, with_for_update=True)
    assert head is not None, "migrations create the audit head"
    return head


def _require_key(head: AuditHead, key_id: str) -> None:
    """An instance holding another key than the chain's would write unverifiable records."""
    if head.key_id not in (None, key_id):
        raise AuditKeyMismatch(
            f"the audit chain is sealed under key {head.key_id}, this instance holds "
            f"{key_id}: every instance must use the same HOPS_AUDIT_KEY (or audit.key)"
        )


def record(sessions: sessionmaker[Session], key: bytes, entry: AuditEntry) -> None:
    """Append one record; the head row is locked so the chain stays linear under load."""
    record_many(sessions, key, [entry])


def record_many(sessions: sessionmaker[Session], key: bytes, entries: list[AuditEntry]) -> None:
    """Append records in order in one transaction (a group commit, audit/writer.py): all
    of them or, if the transaction fails, none."""
    with sessions() as session:
        head = _locked_head(session)
        key_id = fingerprint(key)
        _require_key(head, key_id)
        if head.key_id is None:
            raise AuditKeyMismatch("the audit chain is not sealed yet: the service seals it")
        for entry in entries:
            _append(session, head, key, entry)
        session.commit()


# --- sealing the legacy chain -------------------------------------------------------------


def _truncated_by_old_code(row: AuditRecord) -> bool:
    """The signature of the pre-0007 bug: a field stored at exactly its column size
    (hashed in full, stored cut). Only such records may be excused by the seal."""
    values = {
        "actor": row.actor,
        "project": row.project or "",
        "action": row.action,
        "target": row.target,
        "client": row.client,
    }
    return any(len(value) == LIMITS[name] for name, value in values.items())


def _id_set_digest(ids: list[int]) -> str:
    return hashlib.sha256(",".join(map(str, sorted(ids))).encode()).hexdigest()[:32]


def _seal_target(last_legacy: int, excused: list[int]) -> str:
    return (
        f"legacy records 1..{last_legacy} sealed; stored truncated: {len(excused)} "
        f"({_id_set_digest(excused)})"
    )


def _parse_seal(target: str) -> tuple[int, str] | None:
    """(number, digest) of the legacy records the seal excused."""
    _, sep, rest = target.partition("; stored truncated: ")
    count, _, digest = rest.partition(" (")
    if not sep or not count.isdigit() or not digest.endswith(")"):
        return None
    return int(count), digest[:-1]


def seal(sessions: sessionmaker[Session], key: bytes) -> str | None:
    """Put the chain under `key` at startup; returns the seal's target when one was
    written. Refuses (AuditKeyMismatch) when the chain is sealed under another key, so a
    misconfigured instance fails at once instead of making the chain unverifiable."""
    with sessions() as session:
        head = _locked_head(session)
        key_id = fingerprint(key)
        _require_key(head, key_id)
        if head.key_id == key_id:
            return None
        already = session.scalar(
            select(AuditRecord.id).where(AuditRecord.action == SEAL_ACTION).limit(1)
        )
        if already is not None:  # the head lost its key id; verify judges the chain
            head.key_id = key_id
            session.commit()
            return None
        report = VerifyReport()
        excused = _walk_legacy(session, report)
        entry = AuditEntry(
            actor=SYSTEM_ACTOR,
            project=None,
            action=SEAL_ACTION,
            target=_seal_target(head.last_id, excused),
            outcome="ok" if report.ok else "rejected",
            status_code=0,
            client="-",
        )
        _append(session, head, key, entry)
        head.key_id = key_id
        session.commit()
        return entry.target


def _walk_legacy(session: Session, report: VerifyReport) -> list[int]:
    """Verify unkeyed records (all of them: called before the seal exists); returns the
    ids stored truncated by the old code, and reports every other problem."""
    excused: list[int] = []
    expected_id, prev_hash = 1, GENESIS
    for row in _records(session):
        report.checked += 1
        _check_link(report, row, expected_id, prev_hash)
        if _legacy_digest(row.prev_hash, row.id, row.ts, _entry_of(row)) != row.hash:
            if _truncated_by_old_code(row):
                excused.append(row.id)
            else:
                report.problems.append(f"record {row.id}: content does not match its hash")
        expected_id, prev_hash = row.id + 1, row.hash
    return excused


# --- verifying --------------------------------------------------------------------------


@dataclass
class VerifyReport:
    checked: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _records(session: Session) -> Iterator[AuditRecord]:
    yield from session.scalars(
        select(AuditRecord).order_by(AuditRecord.id).execution_options(yield_per=1000)
    )


def _check_link(report: VerifyReport, row: AuditRecord, expected_id: int, prev: str) -> None:
    if row.id != expected_id:
        report.problems.append(f"records {expected_id}..{row.id - 1} are missing")
    if row.prev_hash != prev:
        report.problems.append(f"record {row.id}: does not follow the previous record")


def verify(session: Session, key: bytes, checkpoint: dict[str, Any] | None = None) -> VerifyReport:
    """Recompute the chain under `key`; with a checkpoint, also check that the record it
    names is still there with the same hash (nothing truncated or rewritten below it)."""
    report = VerifyReport()
    head = session.get(AuditHead, 1)
    key_id = fingerprint(key)
    if head is not None and head.key_id not in (None, key_id):
        report.problems.append(
            f"the chain is sealed under key {head.key_id} but this is key {key_id}: "
            "verify with the service's HOPS_AUDIT_KEY or audit.key"
        )
        return report
    expected_id, prev_hash = 1, GENESIS
    seal_row: AuditRecord | None = None
    legacy_bad: list[AuditRecord] = []
    for row in _records(session):
        report.checked += 1
        _check_link(report, row, expected_id, prev_hash)
        entry = _entry_of(row)
        if seal_row is not None:
            if _keyed_digest(key, row.prev_hash, row.id, row.ts, entry) != row.hash:
                report.problems.append(f"record {row.id}: content does not match its hash")
        elif (
            row.action == SEAL_ACTION
            and _keyed_digest(key, row.prev_hash, row.id, row.ts, entry) == row.hash
        ):
            seal_row = row
        elif _legacy_digest(row.prev_hash, row.id, row.ts, entry) != row.hash:
            legacy_bad.append(row)
        expected_id, prev_hash = row.id + 1, row.hash
    _judge_legacy(report, seal_row, legacy_bad)
    if head is None or head.last_id != expected_id - 1 or head.last_hash != prev_hash:
        last = head.last_id if head else "?"
        report.problems.append(
            f"the log ends at record {expected_id - 1} but its head says {last}: "
            "newest records were removed"
        )
    if checkpoint is not None:
        report.problems.extend(check_checkpoint(session, key, checkpoint))
    return report


def _mismatches(rows: list[AuditRecord]) -> list[str]:
    return [f"record {r.id}: content does not match its hash" for r in rows]


def _judge_legacy(
    report: VerifyReport, seal_row: AuditRecord | None, legacy_bad: list[AuditRecord]
) -> None:
    if seal_row is None:
        if report.checked:
            report.problems.append(
                "no record is sealed under the audit key: the log was rewritten, or the "
                "service has not started since the upgrade that keyed it"
            )
        report.problems.extend(_mismatches(legacy_bad))
        return
    truncated = [r.id for r in legacy_bad if _truncated_by_old_code(r)]
    sealed = _parse_seal(seal_row.target)
    if truncated and sealed == (len(truncated), _id_set_digest(truncated)):
        report.notes.append(
            f"{len(truncated)} records before the seal (record {seal_row.id}) were stored "
            "truncated by an older version; their content cannot be verified"
        )
        legacy_bad = [r for r in legacy_bad if r.id not in set(truncated)]
    report.problems.extend(_mismatches(legacy_bad))


# --- checkpoints --------------------------------------------------------------------------


def _checkpoint_mac(key: bytes, body: dict[str, Any]) -> str:
    payload = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key, b"hops-audit-checkpoint\n" + payload, hashlib.sha256).hexdigest()


def make_checkpoint(session: Session, key: bytes) -> dict[str, Any]:
    """A signed statement of the newest record, to keep outside the DB's reach."""
    row = session.scalars(select(AuditRecord).order_by(AuditRecord.id.desc()).limit(1)).first()
    body: dict[str, Any] = {
        "version": CHECKPOINT_VERSION,
        "key_id": fingerprint(key),
        "last_id": row.id if row else 0,
        "last_hash": row.hash if row else GENESIS,
        "last_ts": row.ts.replace(tzinfo=UTC).isoformat(timespec="microseconds") if row else None,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return {**body, "mac": _checkpoint_mac(key, body)}


def check_checkpoint(session: Session, key: bytes, checkpoint: dict[str, Any]) -> list[str]:
    body = {k: v for k, v in checkpoint.items() if k != "mac"}
    mac = checkpoint.get("mac")
    if not isinstance(mac, str) or not hmac.compare_digest(mac, _checkpoint_mac(key, body)):
        return ["the checkpoint's signature does not match: edited, or made with another key"]
    last_id, last_hash = body.get("last_id"), body.get("last_hash")
    if not isinstance(last_id, int) or last_id == 0:
        return []
    row = session.get(AuditRecord, last_id)
    if row is None:
        return [f"record {last_id} named by the checkpoint is missing: the log was truncated"]
    if row.hash != last_hash:
        return [f"record {last_id}: differs from the checkpoint: the chain was rewritten"]
    return []


# --- the feed -----------------------------------------------------------------------------


# asked before every audited request: built once (composing cost more than running it)
_PROJECT_ID_BY_NAME = DriverSelect(select(Project.id).where(Project.name == bindparam("name")))
_PROJECT_ID = DriverSelect(select(Project.id).where(Project.id == bindparam("id")))


def project_id_of(rt: Runtime, name: str) -> int | None:
    """The id a request about `name` is attributed to: the project holding the name when
    the request starts, or none (requests about a name nobody holds belong to no feed)."""
    with read_cursor(rt.engine) as reads:
        row = reads.first(_PROJECT_ID_BY_NAME, name=name)
    return None if row is None else row.id


def existing_project_id(rt: Runtime, project_id: int) -> int | None:
    """The id of a request that names its project by id (the SDK's paths), if a project
    holds it when the request starts: a probe of an id before its project exists belongs to
    no feed."""
    with read_cursor(rt.engine) as reads:
        row = reads.first(_PROJECT_ID, id=project_id)
    return None if row is None else row.id


def activity(rt: Runtime, *, user: User, project: str, page: PageParams) -> Page[AuditRead]:
    """The project's audit feed, newest first: its own records, by id, never those of
    an earlier project of the same name nor requests made before it existed."""
    with rt.read_sessions() as session:
        access = project_service.authorize(
            session, project=project, user=user, action=Action.VIEW_PROJECT
        )
        where = AuditRecord.project_id == access.project_id
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
