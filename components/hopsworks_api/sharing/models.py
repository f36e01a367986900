"""Dataset shares: another project gets access to the same bytes, never a copy."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hopsworks_api.db.base import NEVER_REUSE_IDS, Base, CreatedAtMixin
from hopsworks_api.schemas import ApiModel, ProjectRef


class Permission(StrEnum):
    READ_ONLY = "read_only"
    EDITABLE = "editable"


class ShareStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"


class DatasetShare(CreatedAtMixin, Base):
    __tablename__ = "dataset_shares"
    __table_args__ = (UniqueConstraint("dataset_id", "target_project_id"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), index=True
    )
    target_project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    permission: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)


class ShareCreate(ApiModel):
    project: ProjectRef
    permission: Permission = Permission.READ_ONLY


class ShareRead(ApiModel):
    owner_project: str
    dataset: str
    project: str
    permission: Permission
    status: ShareStatus
    created_at: datetime


class ShareKind(StrEnum):
    TOPIC = "topic"
    HIVE = "hive"


class ResourceShare(CreatedAtMixin, Base):
    """A Kafka topic or the Hive database of ``owner_project`` shared with another project.

    ``resource`` is the topic name, or "" for the project's one Hive database; ``topic_id``
    ties a topic share to its topic, so deleting the topic deletes the share (FK cascade)."""

    __tablename__ = "resource_shares"
    __table_args__ = (
        UniqueConstraint("kind", "owner_project_id", "resource", "target_project_id"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    owner_project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    topic_id: Mapped[int | None] = mapped_column(
        ForeignKey("topics.id", ondelete="CASCADE"), nullable=True, index=True
    )
    resource: Mapped[str] = mapped_column(String(201), nullable=False)
    target_project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    permission: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)


class ResourceShareRead(ApiModel):
    kind: ShareKind
    owner_project: str
    resource: str
    project: str
    permission: Permission
    status: ShareStatus
    created_at: datetime
