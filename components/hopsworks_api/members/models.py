"""Membership of a user in a project, with the project-scoped (dynamic) role."""

from __future__ import annotations

from datetime import datetime

from pydantic import EmailStr, Field
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from hopsworks_api.db.base import Base, CreatedAtMixin
from hopsworks_api.identity import Role
from hopsworks_api.schemas import ApiModel


class Membership(CreatedAtMixin, Base):
    __tablename__ = "memberships"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(32), nullable=False)


class MemberAdd(ApiModel):
    email: EmailStr = Field(max_length=254)
    role: Role


class MemberUpdate(ApiModel):
    role: Role


class MemberRead(ApiModel):
    email: str
    role: Role
    identity: str = Field(description="The project-user identity <project>__<user>.")
    added_at: datetime
