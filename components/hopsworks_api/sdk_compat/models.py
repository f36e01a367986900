"""The SDK's model registry (`project/{id}/modelregistries/...`), translated to
`model_registry.service`.

A project has one registry, whose id is the project's. The SDK names a version
`<name>_<version>`, picks the version number itself (the highest numbered directory in
`Models/<name>` plus one), uploads the files into `Models/<name>/<version>/Files` through
the dataset API, then registers with `PUT`. The platform numbers versions itself and never
gives a number twice, so a `PUT` is accepted only for the number the platform gives next
(409 otherwise, saying which); the version's directory is then `Models/<name>/<version>`.
Shared registries, tags and provenance are not kept: the calls the SDK makes for them on
every `get_model()` are answered empty.
"""

from __future__ import annotations

import contextlib
import math
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import ValidationError
from sqlalchemy import select

from hopsworks_api.deps import CurrentUser, RuntimeDep
from hopsworks_api.errors import BadRequest, Conflict, NotFound
from hopsworks_api.model_registry import service
from hopsworks_api.model_registry.models import (
    MODEL_NAME,
    MODELS_DATASET,
    Framework,
    ModelCreate,
    ModelVersionRead,
    RegisteredModel,
)
from hopsworks_api.paths import SDK
from hopsworks_api.projects.models import Project
from hopsworks_api.runtime import Runtime
from hopsworks_api.sdk_compat.projects import SdkProject as ProjectName
from hopsworks_api.users.models import User

router = APIRouter(prefix=SDK + "/project/{project_id:int}", include_in_schema=False)
REGISTRIES = "/modelregistries"

RegistryId = Annotated[int, Path(ge=1, le=2_147_483_647)]
# `<name>_<version>`: the name (MODEL_NAME) may hold '_' too, the version is what follows
# the last one
ModelId = Annotated[str, Path(pattern=MODEL_NAME.removesuffix("$") + r"_[0-9]{1,10}$")]

MODEL_NOT_FOUND = "model_not_found"  # sdk_compat.errors: the SDK's 360000
# the SDK's framework names <-> the platform's
FRAMEWORKS = {
    "SKLEARN": Framework.SKLEARN,
    "PYTHON": Framework.PYTHON,
    "TENSORFLOW": Framework.TENSORFLOW,
    "TORCH": Framework.PYTORCH,
}
SDK_FRAMEWORK = {platform: sdk for sdk, platform in FRAMEWORKS.items()}


def _registry(project_id: int, registry_id: int, project: str) -> None:
    if registry_id != project_id:
        raise NotFound(
            f"model registry {registry_id} not found in project '{project}' (registries "
            "shared from other projects are not supported)",
            code="model_registry_not_found",
        )


def _name_version(model_id: str) -> tuple[str, int]:
    name, _, version = model_id.rpartition("_")
    number = int(version)
    if not 1 <= number <= 2_147_483_647:
        raise NotFound(f"model '{name}' has no version {version}", code=MODEL_NOT_FOUND)
    return name, number


def model_json(project: str, registry_id: int, model: ModelVersionRead) -> dict[str, Any]:
    return {
        "type": "modelDTO",
        "id": f"{model.name}_{model.version}",
        "name": model.name,
        "version": model.version,
        "created": int(model.created_at.timestamp() * 1000),
        "creator": None if model.registered_by is None else {"email": model.registered_by},
        "userFullName": model.registered_by,
        "description": model.description,
        "metrics": model.metrics,
        "framework": SDK_FRAMEWORK.get(model.framework, model.framework.value.upper()),
        "projectName": project,
        "modelRegistryId": registry_id,
        "environment": None,
        "program": None,
        "inputExample": model.input_example,
        "modelSchema": None,
        "trainingDatasetVersion": None,
        "featureView": None,
    }


def _metrics(value: Any) -> dict[str, float]:
    """The SDK sends metric values as numbers or numeric strings."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest("'metrics' must be an object", code="bad_model")
    metrics: dict[str, float] = {}
    for key, raw in value.items():
        try:
            number = float(raw)
        except (TypeError, ValueError):
            raise BadRequest(f"metric '{key}' is not a number", code="bad_model") from None
        if not math.isfinite(number):
            raise BadRequest(f"metric '{key}' is not a finite number", code="bad_model")
        metrics[key] = number
    return metrics


def model_create(name: str, version: int, body: Any) -> ModelCreate:
    """The SDK's model (`Model.to_dict()`) as the platform's registration."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a model object", code="bad_model")
    framework = body.get("framework")
    if framework not in FRAMEWORKS:
        raise BadRequest(
            f"framework '{framework}' is not supported here; the registry keeps "
            f"{', '.join(FRAMEWORKS)} models",
            code="unsupported_framework",
        )
    for key, expected in (("name", name), ("version", version)):
        if body.get(key) not in (None, expected):
            raise BadRequest(
                f"the body's {key} '{body.get(key)}' differs from the path's '{expected}'",
                code="bad_model",
            )
    description = body.get("description")
    try:
        return ModelCreate(
            name=name,
            framework=FRAMEWORKS[framework],
            path=f"{MODELS_DATASET}/{name}/{version}",
            metrics=_metrics(body.get("metrics")),
            description=description if isinstance(description, str) else None,
            input_example=body.get("inputExample"),
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise BadRequest(f"model: {problems}", code="bad_model") from None


def _next_version(rt: Runtime, project: str, name: str) -> int:
    """The number the registry gives the name's next version (numbers are never reused)."""
    with rt.read_sessions() as session:
        last = session.scalar(
            select(RegisteredModel.last_version)
            .join(Project, Project.id == RegisteredModel.project_id)
            .where(Project.name == project, RegisteredModel.name == name)
        )
    return (last or 0) + 1


def _register(
    rt: Runtime, user: User, project: str, name: str, version: int, data: ModelCreate
) -> ModelVersionRead:
    expected = _next_version(rt, project, name)
    if version != expected:
        raise Conflict(
            f"model '{name}' version {version} cannot be registered: the registry gives "
            f"version numbers in order and never reuses one; the next version is {expected} "
            f"(save without a version, or with version={expected})",
            code="model_version_taken",
        )
    registered = service.register(rt, user=user, project=project, data=data)
    if registered.version != version:  # another registration of the name came first
        service.delete_version(
            rt, user=user, project=project, name=name, version=registered.version
        )
        raise Conflict(
            f"model '{name}' version {version} was registered by someone else meanwhile; "
            "save again",
            code="model_version_taken",
        )
    return registered


# --- routes ----------------------------------------------------------------------------


@router.get(REGISTRIES, name="sdk.model_registry.list")
def list_registries(project_id: int, project: ProjectName) -> dict[str, Any]:
    return {"count": 1, "items": [{"id": project_id, "name": project}]}


@router.get(REGISTRIES + "/{registry_id}/models", name="sdk.model.list")
def list_models(
    project_id: int,
    registry_id: RegistryId,
    project: ProjectName,
    user: CurrentUser,
    rt: RuntimeDep,
    filter_by: Annotated[list[str] | None, Query()] = None,
    sort_by: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=10_000)] = None,
) -> dict[str, Any]:
    """`get_models(name)` filters by `name_eq:<name>`; `get_best_model` also sorts by a
    metric (`<metric>:asc|desc`, versions without it last) and takes the first."""
    _registry(project_id, registry_id, project)
    names = [f.removeprefix("name_eq:") for f in filter_by or [] if f.startswith("name_eq:")]
    if not names:
        names = [m.name for m in service.list_models(rt, user=user, project=project)]
    versions: list[ModelVersionRead] = []
    for name in names:
        with contextlib.suppress(NotFound):  # no such model (any more): none of its versions
            versions += service.list_versions(rt, user=user, project=project, name=name)
    if sort_by:
        metric, _, direction = sort_by.partition(":")
        present = [v for v in versions if metric in v.metrics]
        present.sort(key=lambda v: v.metrics[metric], reverse=direction.lower() == "desc")
        versions = present + [v for v in versions if metric not in v.metrics]
    if limit is not None:
        versions = versions[:limit]
    items = [model_json(project, registry_id, v) for v in versions]
    return {"type": "modelDTO", "count": len(items), "items": items}


@router.get(REGISTRIES + "/{registry_id}/models/{model_id}", name="sdk.model.read")
def get_model(
    project_id: int,
    registry_id: RegistryId,
    model_id: ModelId,
    project: ProjectName,
    user: CurrentUser,
    rt: RuntimeDep,
) -> dict[str, Any]:
    _registry(project_id, registry_id, project)
    name, version = _name_version(model_id)
    try:
        model = service.get_version(rt, user=user, project=project, name=name, version=version)
    except NotFound as exc:  # the code the SDK reads as "no such model" (`get_model` -> None)
        raise NotFound(exc.message, code=MODEL_NOT_FOUND) from None
    return model_json(project, registry_id, model)


@router.put(REGISTRIES + "/{registry_id}/models/{model_id}", name="sdk.model.register")
def put_model(
    project_id: int,
    registry_id: RegistryId,
    model_id: ModelId,
    body: dict[str, Any],
    project: ProjectName,
    user: CurrentUser,
    rt: RuntimeDep,
    response: Response,
) -> dict[str, Any]:
    """Register the version whose files the SDK uploaded to `Models/<name>/<version>`;
    an existing version answers as it is if the body asks for nothing it does not hold
    (versions are immutable)."""
    _registry(project_id, registry_id, project)
    name, version = _name_version(model_id)
    data = model_create(name, version, body)
    try:
        existing = service.get_version(rt, user=user, project=project, name=name, version=version)
    except NotFound:
        registered = _register(rt, user, project, name, version, data)
        response.status_code = status.HTTP_201_CREATED
        return model_json(project, registry_id, registered)
    if (existing.framework, existing.metrics) != (data.framework, data.metrics):
        raise Conflict(
            f"model '{name}' version {version} exists with other metadata; versions are "
            "immutable: save a new version",
            code="model_version_exists",
        )
    return model_json(project, registry_id, existing)


@router.delete(
    REGISTRIES + "/{registry_id}/models/{model_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    name="sdk.model.delete",
)
def delete_model(
    project_id: int,
    registry_id: RegistryId,
    model_id: ModelId,
    project: ProjectName,
    user: CurrentUser,
    rt: RuntimeDep,
) -> None:
    """The version's metadata; the SDK removes its directory itself."""
    _registry(project_id, registry_id, project)
    name, version = _name_version(model_id)
    service.delete_version(rt, user=user, project=project, name=name, version=version)


@router.get(
    REGISTRIES + "/{registry_id}/models/{model_id}/provenance/links", name="sdk.model.provenance"
)
def provenance(
    project_id: int,
    registry_id: RegistryId,
    model_id: ModelId,
    project: ProjectName,
    user: CurrentUser,
    rt: RuntimeDep,
) -> dict[str, Any]:
    """No feature store, so no feature view or training dataset a model comes from."""
    get_model(project_id, registry_id, model_id, project, user, rt)
    return {"upstream": [], "downstream": []}


@router.get(REGISTRIES + "/{registry_id}/models/{model_id}/tags", name="sdk.model.tags")
def tags(
    project_id: int,
    registry_id: RegistryId,
    model_id: ModelId,
    project: ProjectName,
    user: CurrentUser,
    rt: RuntimeDep,
) -> dict[str, Any]:
    get_model(project_id, registry_id, model_id, project, user, rt)
    return {"count": 0, "items": []}


@router.get("/featurestores/{name}", name="sdk.featurestore.read")
def feature_store(name: str, project_id: int, project: ProjectName) -> dict[str, Any]:
    """The project's feature store as the SDK reads it before it parses provenance links:
    the platform has no feature store, so an empty one, offline and online off."""
    store = f"{project}_featurestore"
    if name.lower() not in (store, str(project_id)):
        raise NotFound(f"feature store '{name}' not found", code="featurestore_not_found")
    return {
        "featurestoreId": project_id,
        "featurestoreName": store,
        "created": None,
        "projectName": project,
        "projectId": project_id,
        "offlineFeaturestoreName": store,
        "onlineEnabled": False,
        "numFeatureGroups": 0,
        "numTrainingDatasets": 0,
        "numStorageConnectors": 0,
        "numFeatureViews": 0,
    }
