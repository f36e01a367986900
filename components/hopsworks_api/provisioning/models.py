"""The journal (outbox) of multi-system changes: written in the transaction of the DB
change it belongs to, deleted once every system matches the DB again."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hopsworks_api.db.base import NEVER_REUSE_IDS, Base, CreatedAtMixin, PreciseDateTime


class ProvisioningChange(CreatedAtMixin, Base):
    """A change whose systems may not match the DB yet. It records only *which* projects to
    converge, never what to do: the DB rows are the intent, so applying it after a crash,
    twice, or after a later change of the same projects all converge to the same state."""

    __tablename__ = "provisioning_changes"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    reason: Mapped[str] = mapped_column(String(64), nullable=False)
    scope_json: Mapped[str] = mapped_column(Text, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    next_attempt_at: Mapped[datetime] = mapped_column(PreciseDateTime, index=True, nullable=False)
    last_error: Mapped[str | None] = mapped_column(String(1000), nullable=True)

    @property
    def scope(self) -> frozenset[str]:
        return frozenset(json.loads(self.scope_json))
