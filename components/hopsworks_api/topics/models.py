"""Kafka topics owned by a project (the DB records them; the broker holds `<project>.<topic>`)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field
from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hopsworks_api.db.base import NEVER_REUSE_IDS, Base, CreatedAtMixin
from hopsworks_api.schemas import ApiModel


class Topic(CreatedAtMixin, Base):
    __tablename__ = "topics"
    __table_args__ = (UniqueConstraint("project_id", "name"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(201), nullable=False)
    partitions: Mapped[int] = mapped_column(Integer, nullable=False)
    replication: Mapped[int] = mapped_column(Integer, nullable=False)


class TopicCreate(ApiModel):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,200}$")
    partitions: int = Field(default=1, ge=1, le=1000)
    replication: int = Field(default=1, ge=1, le=10)


class TopicRead(ApiModel):
    name: str
    partitions: int
    replication: int
    created_at: datetime
