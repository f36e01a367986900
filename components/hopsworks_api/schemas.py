"""Constrained types and pagination shared by every domain (dispatch's models.py role)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from hopsworks_api.identity import check_project_name

# The same rule as `check_project_name` (no "__") in a form every regex dialect reads
# (ECMA 262 for OpenAPI clients, Rust for pydantic, Hypothesis for fuzzers): no lookahead.
PROJECT_NAME_SCHEMA_PATTERN = r"^[a-z](_?[a-z0-9])*_?$"
DATASET_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")

DatasetName = Annotated[str, StringConstraints(pattern=DATASET_NAME_RE.pattern)]
Description = Annotated[str, StringConstraints(max_length=2000)]


# `<project>__<user>` is the CN of the member's certificate, and X.509 allows 64 characters
# in a CN; usernames are at most 30 (users.service: 20 from the email, then a counter), so
# a new project's name has at most 64 - 2 - 30 = 32. Longer names stay valid elsewhere
# (`check_project_name`): backends and references accept projects named before this rule.
NEW_PROJECT_NAME_MAX = 32


def check_new_project_name(value: str) -> str:
    """A name for a project about to be created: a project name its members' certificates
    can carry."""
    check_project_name(value)
    if len(value) > NEW_PROJECT_NAME_MAX:
        raise ValueError(
            f"new project names are at most {NEW_PROJECT_NAME_MAX} characters (they become "
            "part of certificate names)"
        )
    return value


def _project_name_schema(max_length: int) -> dict[str, Any]:
    return {"pattern": PROJECT_NAME_SCHEMA_PATTERN, "minLength": 3, "maxLength": max_length}


# Project names as the API accepts them: checked by the functions above (whose messages say
# what is wrong) and described in the schema by the equivalent pattern and lengths.
ProjectName = Annotated[
    str,
    AfterValidator(check_new_project_name),
    Field(json_schema_extra=_project_name_schema(NEW_PROJECT_NAME_MAX)),
]
ProjectRef = Annotated[
    str,
    AfterValidator(check_project_name),
    Field(json_schema_extra=_project_name_schema(63)),
]


def as_utc(value: datetime) -> datetime:
    """The DBs store naive UTC; an API datetime always says so (`Z`), and an aware one
    from elsewhere (a file's mtime) is converted to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class ApiModel(BaseModel):
    """Base of every request and response body: unknown fields are refused, and every
    datetime carries its UTC offset."""

    model_config = ConfigDict(from_attributes=True, extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _utc_datetimes(cls, value: Any) -> Any:
        return as_utc(value) if isinstance(value, datetime) else value


class ProjectNameModel(ApiModel):
    name: ProjectName


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class PageParams(BaseModel):
    limit: int = Field(default=50, ge=1, le=500)
    offset: int = Field(default=0, ge=0, le=1_000_000_000)


def paginate(items: Sequence[Any], page: PageParams) -> Page[Any]:
    """One page of a listing its service returns whole (a project's members, topics, jobs:
    few rows, read at once), so every listing answers the same shape and takes the same
    `?limit=&offset=` whether or not its query pages in the database."""
    return Page(
        items=list(items[page.offset : page.offset + page.limit]),
        total=len(items),
        limit=page.limit,
        offset=page.offset,
    )
