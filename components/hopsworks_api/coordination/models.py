"""The `leases` table: who runs cluster-wide work now, until when, under which token."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from hopsworks_api.db.base import Base, PreciseDateTime


class LeaseRow(Base):
    """One row per named lease, kept forever: the fencing token only grows, so a row is
    never deleted (a fresh row would restart the count and let an old holder's token pass)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255), nullable=False)
    token: Mapped[int] = mapped_column(BigInteger, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(PreciseDateTime, nullable=False)


class ClusterKey(Base):
    """A public fingerprint of a key every instance must share (`coordination.shared_keys`):
    the first instance records it, later ones compare theirs against it."""

    __tablename__ = "cluster_keys"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
