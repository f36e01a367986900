"""Platform accounts and their API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import EmailStr, Field, StringConstraints, field_validator
from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hopsworks_api.db.base import Base, CreatedAtMixin
from hopsworks_api.schemas import ApiModel


class User(CreatedAtMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True, nullable=False)
    username: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    first_name: Mapped[str] = mapped_column(String(100), default="", nullable=False)
    last_name: Mapped[str] = mapped_column(String(100), default="", nullable=False)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)


class ApiKey(CreatedAtMixin, Base):
    """Only a SHA-256 of the secret is kept: a leaked DB does not leak usable keys."""

    __tablename__ = "api_keys"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    prefix: Mapped[str] = mapped_column(String(16), unique=True, nullable=False)
    secret_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    agent_hosts: Mapped[str | None] = mapped_column(String(1024), nullable=True)


HOST_PATTERN_RE = r"^[a-z0-9*][a-z0-9.*-]{0,252}$"
Password = Field(min_length=8, max_length=256)


class UserCreate(ApiModel):
    email: EmailStr = Field(max_length=254)
    password: str = Password
    first_name: str = Field(default="", max_length=100)
    last_name: str = Field(default="", max_length=100)


class Login(ApiModel):
    email: EmailStr = Field(max_length=254)
    password: str = Field(max_length=256)


class Token(ApiModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


class UserRead(ApiModel):
    id: int
    email: str
    username: str
    first_name: str
    last_name: str
    is_admin: bool
    created_at: datetime


class ApiKeyCreate(ApiModel):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    agent_hosts: list[Annotated[str, StringConstraints(pattern=HOST_PATTERN_RE)]] | None = Field(
        default=None,
        max_length=20,
        description="Platform admins only: make an agent key that may only request host "
        "certificates for names matching these patterns (e.g. 'worker*.example.org').",
    )


class ApiKeyRead(ApiModel):
    name: str
    prefix: str
    created_at: datetime
    agent_hosts: list[str] | None = None

    @field_validator("agent_hosts", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return value.split(",") if isinstance(value, str) else value


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="Shown once; only its hash is stored.")
