"""Platform accounts and their API keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import EmailStr, Field, StringConstraints, field_validator
from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hopsworks_api.db.base import NEVER_REUSE_IDS, Base, CreatedAtMixin, PreciseDateTime
from hopsworks_api.schemas import ApiModel


def new_subject() -> str:
    return uuid.uuid4().hex


class User(CreatedAtMixin, Base):
    """`subject` is what tokens name (never the id): random, so no later account can ever
    be issued the subject of a deleted one. `token_version` is in every token; bumping it
    (password change, logout) ends all of the account's tokens at once. An inactive account
    is one waiting for an admin's approval."""

    __tablename__ = "users"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(
        String(32), unique=True, nullable=False, default=new_subject
    )
    token_version: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0", nullable=False
    )
    email: Mapped[str] = mapped_column(String(254), unique=True, nullable=False)
    username: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    first_name: Mapped[str] = mapped_column(String(100), default="", nullable=False)
    last_name: Mapped[str] = mapped_column(String(100), default="", nullable=False)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)

    @property
    def status(self) -> str:
        return "active" if self.is_active else "pending"


class ApiKey(CreatedAtMixin, Base):
    """Only a SHA-256 of the secret is kept: a leaked DB does not leak usable keys."""

    __tablename__ = "api_keys"
    __table_args__ = (UniqueConstraint("user_id", "name"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    prefix: Mapped[str] = mapped_column(String(16), unique=True, nullable=False)
    secret_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    agent_hosts: Mapped[str | None] = mapped_column(String(1024), nullable=True)


class RefreshToken(CreatedAtMixin, Base):
    """One refresh token, stored as a SHA-256 only. Each rotation adds a row to the same
    `family` and marks the old one used; presenting a used one again means it was copied,
    so the whole family is revoked. A row is valid only for the account's current
    `token_version`, so a password change or logout ends every refresh token too."""

    __tablename__ = "refresh_tokens"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    family: Mapped[str] = mapped_column(String(32), index=True, nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    token_version: Mapped[int] = mapped_column(Integer, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(PreciseDateTime, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(PreciseDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(PreciseDateTime, nullable=True)


class LoginFailures(Base):
    """Failed logins per account and per client address (keys are hashes, so no typed-in
    email of a non-existent account is kept). In the metadata DB: every service instance
    shares it."""

    __tablename__ = "login_failures"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, nullable=False)
    last_failure_at: Mapped[datetime] = mapped_column(PreciseDateTime, index=True, nullable=False)
    blocked_until: Mapped[datetime | None] = mapped_column(PreciseDateTime, nullable=True)


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
    expires_in: int = Field(description="seconds the access token is valid")
    refresh_token: str = Field(description="for POST /api/auth/refresh; shown once")
    refresh_expires_in: int = Field(description="seconds the refresh token is valid")


class RefreshRequest(ApiModel):
    refresh_token: str = Field(min_length=1, max_length=256)


class LogoutRequest(ApiModel):
    refresh_token: str | None = Field(default=None, min_length=1, max_length=256)


class PasswordChange(ApiModel):
    current_password: str = Field(max_length=256)
    new_password: str = Password


class UserRead(ApiModel):
    id: int
    email: str
    username: str
    first_name: str
    last_name: str
    is_admin: bool
    status: Literal["active", "pending"] = Field(
        description="pending: registered under the `approval` policy, not yet approved"
    )
    created_at: datetime


class RegistrationPolicy(ApiModel):
    policy: Literal["open", "approval", "closed"]


class SessionRead(ApiModel):
    """A browser session's answer: who signed in and for how long. The tokens themselves
    are only in the HttpOnly cookies, out of page scripts' reach."""

    user: UserRead
    expires_in: int = Field(description="seconds the session cookie's access token is valid")
    refresh_expires_in: int = Field(
        description="seconds `POST /api/auth/session/refresh` can renew the session"
    )


class ApiKeyCreate(ApiModel):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    agent_hosts: list[Annotated[str, StringConstraints(pattern=HOST_PATTERN_RE)]] | None = Field(
        default=None,
        min_length=1,
        max_length=20,
        description="Platform admins only: make an agent key that may only request host "
        "certificates for names matching these patterns (e.g. 'worker*.example.org'); "
        "at least one (an empty list would be no restriction at all).",
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
