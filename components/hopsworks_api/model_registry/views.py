"""Model registry routes."""

from __future__ import annotations

from fastapi import APIRouter, Path, status

from hopsworks_api.deps import CurrentUser, PageDep, RuntimeDep
from hopsworks_api.model_registry import service
from hopsworks_api.model_registry.models import ModelCreate, ModelRead, ModelVersionRead
from hopsworks_api.paths import API
from hopsworks_api.schemas import Page, paginate

router = APIRouter(prefix=API + "/projects/{project}/models", tags=["models"])
Version = Path(ge=1, le=2_147_483_647)


@router.post("", status_code=status.HTTP_201_CREATED, name="model.register")
def register_model(
    project: str, body: ModelCreate, user: CurrentUser, rt: RuntimeDep
) -> ModelVersionRead:
    return service.register(rt, user=user, project=project, data=body)


@router.get("", name="model.list")
def list_models(project: str, user: CurrentUser, rt: RuntimeDep, page: PageDep) -> Page[ModelRead]:
    return paginate(service.list_models(rt, user=user, project=project), page)


@router.get("/{name}", name="model.versions")
def list_versions(
    project: str, name: str, user: CurrentUser, rt: RuntimeDep, page: PageDep
) -> Page[ModelVersionRead]:
    return paginate(service.list_versions(rt, user=user, project=project, name=name), page)


@router.get("/{name}/versions/{version}", name="model.version")
def get_version(
    project: str, name: str, user: CurrentUser, rt: RuntimeDep, version: int = Version
) -> ModelVersionRead:
    return service.get_version(rt, user=user, project=project, name=name, version=version)


@router.delete(
    "/{name}/versions/{version}", status_code=status.HTTP_204_NO_CONTENT, name="model.delete"
)
def delete_version(
    project: str, name: str, user: CurrentUser, rt: RuntimeDep, version: int = Version
) -> None:
    service.delete_version(rt, user=user, project=project, name=name, version=version)
