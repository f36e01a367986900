"""Constrained types and pagination shared by every domain (dispatch's models.py role)."""

from __future__ import annotations

import re
from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

PROJECT_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{2,62}$")
DATASET_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")

DatasetName = Annotated[str, StringConstraints(pattern=DATASET_NAME_RE.pattern)]
Description = Annotated[str, StringConstraints(max_length=2000)]


def check_project_name(value: str) -> str:
    """Project names become HDFS paths, Hive DBs and `<project>__<user>` principals."""
    if not PROJECT_NAME_RE.fullmatch(value):
        raise ValueError(
            "project names are 3-63 characters: a lowercase letter, then lowercase "
            "letters, digits or '_'"
        )
    if "__" in value:
        raise ValueError("project names may not contain '__' (it separates project and user)")
    return value


class ApiModel(BaseModel):
    model_config = ConfigDict(from_attributes=True, extra="forbid")


class ProjectNameModel(ApiModel):
    name: str

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return check_project_name(value)


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class PageParams(BaseModel):
    limit: int = Field(default=50, ge=1, le=500)
    offset: int = Field(default=0, ge=0, le=1_000_000_000)
