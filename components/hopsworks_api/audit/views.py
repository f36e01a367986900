"""The activity feed of a project."""

from __future__ import annotations

from fastapi import APIRouter

from hopsworks_api.audit import service
from hopsworks_api.audit.models import AuditRead
from hopsworks_api.deps import CurrentUser, PageDep, RuntimeDep
from hopsworks_api.paths import API
from hopsworks_api.schemas import Page

router = APIRouter(prefix=API + "/projects/{project}/activity", tags=["audit"])


@router.get("", name="project.activity")
def activity(project: str, user: CurrentUser, rt: RuntimeDep, page: PageDep) -> Page[AuditRead]:
    return service.activity(rt, user=user, project=project, page=page)
