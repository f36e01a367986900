"""Projects: the unit of multi-tenancy."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field
from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from hopsworks_api.db.base import NEVER_REUSE_IDS, Base, CreatedAtMixin, utcnow
from hopsworks_api.schemas import ApiModel, Description, ProjectNameModel


class ProjectStatus(StrEnum):
    """`deleting`: the deletion is committed and the systems are being torn down; the
    project is gone for every request, and its row (holding the name) goes once every system
    let go of it (provisioning finishes it, also after a crash)."""

    ACTIVE = "active"
    DELETING = "deleting"


class Project(CreatedAtMixin, Base):
    __tablename__ = "projects"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True, nullable=False)
    description: Mapped[str] = mapped_column(String(2000), default="", nullable=False)
    status: Mapped[str] = mapped_column(
        String(16), default=ProjectStatus.ACTIVE, server_default="active", nullable=False
    )
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime, default=utcnow, onupdate=utcnow, nullable=False
    )


class ProjectCreate(ProjectNameModel):
    description: Description = ""


class ProjectUpdate(ApiModel):
    description: Description | None = None


class ProjectRead(ApiModel):
    id: int
    name: str
    description: str
    created_at: datetime
    updated_at: datetime
    role: str | None = None
    # the caller's rights here, by action name (authz.Action, lower case): what the UI offers
    allowed: list[str] = Field(default_factory=list)
