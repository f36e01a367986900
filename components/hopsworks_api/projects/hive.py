"""The project's Hive database as its members see it: name, location, size, tables."""

from __future__ import annotations

from pydantic import Field

from hopsworks_api.authz import Action
from hopsworks_api.projects import service as project_service
from hopsworks_api.runtime import Runtime
from hopsworks_api.schemas import ApiModel
from hopsworks_api.users.models import User


class HiveRead(ApiModel):
    database: str
    location: str
    size_bytes: int
    size_source: str = Field(description="filesystem (exact) or table_stats (estimate)")
    tables: list[str]


def describe(rt: Runtime, *, user: User, project: str) -> HiveRead:
    with rt.read_sessions() as session:
        access = project_service.authorize(
            session, project=project, user=user, action=Action.VIEW_PROJECT
        )
    database = rt.backends.hive.describe(access.project)
    return HiveRead(
        database=database.name,
        location=database.location,
        size_bytes=database.size_bytes,
        size_source=database.size_source,
        tables=list(database.tables),
    )
