"""Project routes."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from hopsworks_api.deps import CurrentUser, PageDep, RuntimeDep
from hopsworks_api.paths import API
from hopsworks_api.projects import hive, service
from hopsworks_api.projects.hive import HiveRead
from hopsworks_api.projects.models import ProjectCreate, ProjectRead, ProjectUpdate
from hopsworks_api.reads import run_read
from hopsworks_api.schemas import Page

router = APIRouter(prefix=API + "/projects", tags=["projects"])


@router.post("", status_code=status.HTTP_201_CREATED, name="project.create")
def create_project(
    body: ProjectCreate, request: Request, user: CurrentUser, rt: RuntimeDep
) -> ProjectRead:
    request.state.audit.project = body.name
    return service.create(rt, user=user, data=body)


@router.get("", name="project.list")
def list_projects(user: CurrentUser, rt: RuntimeDep, page: PageDep) -> Page[ProjectRead]:
    return service.list_projects(rt, user=user, page=page)


@router.get("/{project}", name="project.get")
async def get_project(project: str, user: CurrentUser, rt: RuntimeDep) -> ProjectRead:
    return await run_read(rt, service.get, rt, user=user, project=project)


@router.patch("/{project}", name="project.update")
def update_project(
    project: str, body: ProjectUpdate, user: CurrentUser, rt: RuntimeDep
) -> ProjectRead:
    return service.update(rt, user=user, project=project, data=body)


@router.delete("/{project}", status_code=status.HTTP_204_NO_CONTENT, name="project.delete")
def delete_project(project: str, user: CurrentUser, rt: RuntimeDep) -> None:
    service.delete(rt, user=user, project=project)


@router.get("/{project}/hive", name="project.hive")
def hive_database(project: str, user: CurrentUser, rt: RuntimeDep) -> HiveRead:
    """The project's Hive database: location, size and tables."""
    return hive.describe(rt, user=user, project=project)
