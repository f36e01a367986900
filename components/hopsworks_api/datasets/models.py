"""Datasets: top-level directories of a project, the unit of sharing."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hopsworks_api.db.base import (
    NEVER_REUSE_IDS,
    Base,
    CreatedAtMixin,
    PreciseDateTime,
    utcnow,
)
from hopsworks_api.schemas import ApiModel, DatasetName, Description

DEFAULT_DATASETS = ("Resources", "Jupyter", "Logs", "Models")


class Dataset(CreatedAtMixin, Base):
    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("project_id", "name"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    description: Mapped[str] = mapped_column(String(2000), default="", nullable=False)


class UploadReservation(CreatedAtMixin, Base):
    """The quota one upload in flight holds, durable so that it cannot outlive the upload.

    Its bytes and files are already counted in `project_quotas`; whoever deletes the row
    gives them back, in the same transaction, exactly once: the upload when it finishes or
    aborts, a dataset deletion for the uploads into that dataset (which then fail), or the
    reaper when `updated_at` (the upload's heartbeat) is older than the idle timeout allows,
    e.g. after a crash. An upload publishes only while its row exists, so a reaped or
    orphaned upload can never land. `token` names its temporary file in storage."""

    __tablename__ = "upload_reservations"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), index=True
    )
    token: Mapped[str] = mapped_column(String(64), nullable=False)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    files: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        PreciseDateTime, default=utcnow, nullable=False, index=True
    )


class DatasetCreate(ApiModel):
    name: DatasetName
    description: Description = ""


class DatasetRead(ApiModel):
    name: str
    description: str
    created_at: datetime
    shared: bool = False
    permission: str | None = None
    # the caller may upload into it (role and share permission): what the UI offers
    writable: bool = False


class FileEntry(ApiModel):
    name: str
    type: Literal["file", "dir"]
    size: int
    modified: datetime


class DirectoryListing(ApiModel):
    """One page of a directory, entries sorted by name: the page shape of every listing
    (`schemas.Page`) plus where it is."""

    dataset: str
    path: str
    items: list[FileEntry]
    total: int
    limit: int
    offset: int


class DirectoryCreated(ApiModel):
    dataset: str
    path: str


class UploadResult(ApiModel):
    dataset: str
    path: str
    size: int
