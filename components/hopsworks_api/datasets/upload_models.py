"""Resumable upload sessions: the rows that survive between a client's chunk requests,
and the API's shapes for them (datasets.uploads has the rules)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field
from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from hopsworks_api.db.base import Base, CreatedAtMixin, PreciseDateTime
from hopsworks_api.schemas import ApiModel

MiB = 1024 * 1024
MIN_CHUNK_SIZE = MiB
MAX_CHUNK_SIZE = 64 * MiB
DEFAULT_CHUNK_SIZE = 8 * MiB
MAX_CLIENT_KEY = 255
MAX_FILE_SIZE = 2**53
"""Far beyond any quota, and small enough that quota sums cannot overflow a BIGINT."""


class UploadSession(CreatedAtMixin, Base):
    """One resumable upload: a file assembled from numbered chunks sent in any order.

    `id` is random (32 hex digits) and names the session's staging area in storage and
    its reservation's token. The quota for `size` is held by `reservation_id` (an
    `UploadReservation`, which also goes when its dataset is deleted: then this row is
    left with NULL and only waits for the reaper to remove its staging). Likewise a
    deleted account or addressed project leaves NULL behind, never a dangling id, so
    the reaper still finds the staging to remove; the owner project's deletion takes the
    staging with its directory, and so the row with it.

    `key_hash` (SHA-256 of dataset, path and the client's key) is what makes a client's
    repeated create return the same session, by a unique constraint: a path can be too long
    for an index."""

    __tablename__ = "upload_sessions"
    __table_args__ = (UniqueConstraint("user_id", "project_id", "key_hash"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True, nullable=True
    )
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="SET NULL"), index=True, nullable=True
    )
    owner_project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True, nullable=False
    )
    dataset: Mapped[str] = mapped_column(String(255), nullable=False)
    dataset_id: Mapped[int] = mapped_column(Integer, nullable=False)
    path: Mapped[str] = mapped_column(Text, nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    chunk_size: Mapped[int] = mapped_column(Integer, nullable=False)
    total_chunks: Mapped[int] = mapped_column(Integer, nullable=False)
    overwrite: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    key_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reservation_id: Mapped[int | None] = mapped_column(
        ForeignKey("upload_reservations.id", ondelete="SET NULL"), index=True, nullable=True
    )
    expires_at: Mapped[datetime] = mapped_column(PreciseDateTime, nullable=False, index=True)
    completing_at: Mapped[datetime | None] = mapped_column(PreciseDateTime, nullable=True)


class UploadSessionChunk(Base):
    """A chunk stored in the session's staging area (re-sending it replaces it)."""

    __tablename__ = "upload_session_chunks"

    session_id: Mapped[str] = mapped_column(
        ForeignKey("upload_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


class UploadSessionCreate(ApiModel):
    path: str = Field(min_length=1, max_length=4096)
    size: int = Field(ge=0, le=2**63 - 1)
    chunk_size: int = Field(default=DEFAULT_CHUNK_SIZE, ge=MIN_CHUNK_SIZE, le=MAX_CHUNK_SIZE)
    total_chunks: int | None = Field(default=None, ge=1, le=2**31 - 1)
    overwrite: bool = False
    client_key: str | None = Field(default=None, min_length=1, max_length=MAX_CLIENT_KEY)


class UploadSessionRead(ApiModel):
    """What a client needs to resume: the chunks already stored (`received`)."""

    id: str
    dataset: str
    path: str
    size: int
    chunk_size: int
    total_chunks: int
    received: list[int]
    expires_at: datetime


class ChunkReceived(ApiModel):
    received: int
