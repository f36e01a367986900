"""The append-only, keyed hash chain of audit records."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hopsworks_api.db.base import Base, PreciseDateTime
from hopsworks_api.schemas import ApiModel


class AuditRecord(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    ts: Mapped[datetime] = mapped_column(PreciseDateTime, nullable=False)
    actor: Mapped[str] = mapped_column(String(254), nullable=False)
    # The name is kept for display; the feed selects by id, because a name can be deleted
    # and taken again (or be asked about before any project holds it).
    project: Mapped[str | None] = mapped_column(String(63), index=True, nullable=True)
    project_id: Mapped[int | None] = mapped_column(Integer, index=True, nullable=True)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    target: Mapped[str] = mapped_column(String(1024), nullable=False)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    status_code: Mapped[int] = mapped_column(Integer, nullable=False)
    client: Mapped[str] = mapped_column(String(64), nullable=False)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)


class AuditHead(Base):
    """One row naming the newest record: deleting the tail of the chain is detectable."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    last_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    # Fingerprint of the key the chain is sealed under: an instance started with another
    # key refuses to write into the chain instead of making it unverifiable.
    key_id: Mapped[str | None] = mapped_column(String(16), nullable=True)


class AuditRead(ApiModel):
    id: int
    ts: datetime
    actor: str
    project: str | None
    action: str
    target: str
    outcome: str
    status_code: int
    client: str
