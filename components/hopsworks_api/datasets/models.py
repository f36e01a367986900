"""Datasets: top-level directories of a project, the unit of sharing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hopsworks_api.db.base import Base, CreatedAtMixin
from hopsworks_api.schemas import ApiModel, DatasetName, Description

DEFAULT_DATASETS = ("Resources", "Jupyter", "Logs", "Models")


class Dataset(CreatedAtMixin, Base):
    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    description: Mapped[str] = mapped_column(String(2000), default="", nullable=False)


class DatasetCreate(ApiModel):
    name: DatasetName
    description: Description = ""


class DatasetRead(ApiModel):
    name: str
    description: str
    created_at: datetime
    shared: bool = False
    permission: str | None = None


class FileEntry(ApiModel):
    name: str
    type: str
    size: int
    modified: datetime


class DirectoryListing(ApiModel):
    dataset: str
    path: str
    entries: list[FileEntry]


class UploadResult(ApiModel):
    dataset: str
    path: str
    size: int
