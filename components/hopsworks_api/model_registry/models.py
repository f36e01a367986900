"""Model versions: the rows, and the API's request and reply shapes.

A version is a directory under the project's `Models` dataset plus the metadata here. The
files stay where the member uploaded them; what makes a version immutable is its manifest
(every file's relative path, size and SHA-256, taken at registration), which whoever loads
the version (a serving) checks first, so a file changed afterwards is refused, not served.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, StringConstraints, field_validator
from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hopsworks_api.db.base import NEVER_REUSE_IDS, Base, CreatedAtMixin
from hopsworks_api.schemas import ApiModel

MODELS_DATASET = "Models"
MODEL_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
MAX_FILES = 10_000
MetricName = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class Framework(StrEnum):
    SKLEARN = "sklearn"
    PYTHON = "python"
    ONNX = "onnx"
    TENSORFLOW = "tensorflow"
    PYTORCH = "pytorch"


class RegisteredModel(Base):
    """One row per model name: the last version number given, so numbers are never given
    twice, even after the latest version was deleted (a serving or a notebook that names
    `iris` 3 must never get a different model)."""

    __tablename__ = "registered_models"
    __table_args__ = (UniqueConstraint("project_id", "name"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    last_version: Mapped[int] = mapped_column(Integer, nullable=False)


class ModelVersion(CreatedAtMixin, Base):
    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("project_id", "name", "version"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    framework: Mapped[str] = mapped_column(String(16), nullable=False)
    path: Mapped[str] = mapped_column(String(4096), nullable=False)  # "Models/<dir>"
    manifest_json: Mapped[str] = mapped_column(Text, nullable=False)
    metrics_json: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    input_example_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )


class ModelCreate(ApiModel):
    name: str = Field(pattern=MODEL_NAME)
    framework: Framework
    path: str = Field(
        min_length=1,
        max_length=4096,
        description="a directory: `Models/<dir>`",
        examples=["Models/iris"],
    )
    metrics: dict[MetricName, float] = Field(default_factory=dict, max_length=100)
    description: str | None = Field(default=None, max_length=4096)
    input_example: Any = Field(default=None, description="any JSON value, kept as given")

    @field_validator("metrics")
    @classmethod
    def _finite(cls, metrics: dict[str, float]) -> dict[str, float]:
        for key, value in metrics.items():
            _unicode(key, "a metric name")
            if not math.isfinite(value):
                raise ValueError(f"metric '{key}' is not a finite number")
        return metrics

    @field_validator("input_example")
    @classmethod
    def _storable(cls, example: Any) -> Any:
        _unicode(json.dumps(example, ensure_ascii=False), "input_example")
        return example


def _unicode(text: str, what: str) -> None:
    """JSON may carry lone surrogates (`"\\ud800"`), which no UTF-8 column can store."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} is not valid Unicode text") from None


class ModelFile(ApiModel):
    path: str = Field(description="relative to the version's directory")
    size: int
    sha256: str


class ModelVersionRead(ApiModel):
    name: str
    version: int
    framework: Framework
    path: str
    metrics: dict[str, float]
    description: str | None
    input_example: Any
    files: list[ModelFile]
    registered_by: str | None
    created_at: datetime


class ModelRead(ApiModel):
    name: str
    latest_version: int
    versions: list[int]
