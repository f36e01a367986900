"""The SDK's model serving (`project/{id}/serving`, `project/{id}/inference/...`),
translated to `servings.service`; predictions go through the platform's own predict route.

A deployment is a serving, named by its row id in the SDK's paths. The SDK creates a
deployment stopped and starts it with a separate call (it does not wait for one that is
already starting): a `PUT` creates the serving STOPPED (`start_now=False`), so the SDK's
`deploy()`, `start()`, `predict()`, `stop()` sequence behaves as against Hopsworks. The
model server is KServe's Python server for scikit-learn models (one `.pkl`/`.joblib` file
in the version); custom predictor or transformer scripts, other model servers and updates of
a deployment are refused.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response, status
from pydantic import ValidationError
from sqlalchemy import select

from hopsworks_api.deps import CurrentUser, RuntimeDep
from hopsworks_api.errors import BadRequest, Conflict, NotFound
from hopsworks_api.paths import SDK
from hopsworks_api.projects.models import Project
from hopsworks_api.runtime import Runtime
from hopsworks_api.sdk_compat.models import SDK_FRAMEWORK
from hopsworks_api.sdk_compat.projects import SdkProject as ProjectName
from hopsworks_api.sdk_compat.variables import VARIABLES
from hopsworks_api.servings import service
from hopsworks_api.servings import views as serving_views
from hopsworks_api.servings.models import (
    MAX_INSTANCES,
    SERVING_NAME,
    Serving,
    ServingCreate,
    ServingRead,
    ServingState,
)
from hopsworks_api.users.models import User

router = APIRouter(prefix=SDK + "/project/{project_id:int}", include_in_schema=False)

ServingId = Annotated[int, Path(ge=1, le=2_147_483_647)]
ServingName = Annotated[str, Path(pattern=SERVING_NAME)]

DEPLOYMENT_NOT_FOUND = "deployment_not_found"  # sdk_compat.errors: the SDK's 240000
MODEL_SERVER = "PYTHON"
SERVING_TOOL = "KSERVE"
# the SDK's predictor status and condition (type, status, reason) for each serving state
STATUS = {
    ServingState.STARTING: ("Starting", "STARTED", None, "the model server is starting"),
    ServingState.RUNNING: ("Running", "READY", True, "the deployment is ready"),
    ServingState.STOPPING: ("Stopping", "STOPPED", None, "the model server is stopping"),
    ServingState.STOPPED: ("Stopped", "STOPPED", True, "the deployment is stopped"),
    ServingState.FAILED: ("Failed", "STARTED", False, "the model server failed"),
}


# The cluster variables the SDK reads before it deploys (sdk_compat.variables answers them):
# KServe is what serves (so the SDK picks its KServe serving tool), with no ingress of its
# own and no scale to zero (at least one instance, at most MAX_INSTANCES).
VARIABLES.update(
    {
        "enable_data_science_profile": lambda rt: "true",
        "kube_kserve_installed": lambda rt: "true",
        "kube_serving_min_num_instances": lambda rt: "1",
        "kube_serving_max_num_instances": lambda rt: str(MAX_INSTANCES),
        "kube_knative_domain_name": lambda rt: "",
    }
)


def inference_path(project_id: int, name: str) -> str:
    return f"/project/{project_id}/inference/models/{name}"


def deployment_json(
    project_id: int, project: str, serving_id: int, serving: ServingRead
) -> dict[str, Any]:
    """The SDK's predictor (what `Predictor.from_response_json` reads) and its state."""
    state, condition, condition_status, reason = STATUS[serving.state]
    if serving.state == ServingState.FAILED:
        reason = serving.stop_reason or reason
    resources = {
        "cores": serving.resources.cores,
        "memory": serving.resources.memory_mb,
        "gpus": serving.resources.gpus,
    }
    framework = serving.framework
    return {
        "type": "servingDTO",
        "id": serving_id,
        "name": serving.name,
        "description": None,
        "version": 1,
        "created": serving.created_at.isoformat(),
        "creator": serving.started_by,
        "modelServer": MODEL_SERVER,
        "servingTool": SERVING_TOOL,
        "predictor": None,
        "configFile": None,
        "apiProtocol": "REST",
        "projectNamespace": project.replace("_", "-"),
        "modelName": serving.model,
        "modelPath": f"/Projects/{project}/Models/{serving.model}",
        "modelVersion": serving.version,
        "modelFramework": None if framework is None else SDK_FRAMEWORK.get(framework),
        "requestedInstances": serving.instances,
        "predictorScalingConfig": {
            "minInstances": serving.instances,
            "maxInstances": serving.instances,
        },
        "predictorResources": {"requests": resources, "limits": resources},
        "inferenceLogging": "ALL",
        "batchingConfiguration": {"batchingEnabled": False},
        "availableInstances": serving.instances if serving.state == ServingState.RUNNING else 0,
        "availableTransformerInstances": None,
        "hopsworksInferencePath": inference_path(project_id, serving.name),
        "modelServerInferencePath": f"/v1/models/{serving.name}:predict",
        "internalPort": None,
        "revision": None,
        "deployed": serving.state in (ServingState.STARTING, ServingState.RUNNING),
        "condition": {"type": condition, "status": condition_status, "reason": reason},
        "status": state,
    }


def _number(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest(f"{what} must be a number", code="bad_deployment")
    number = float(value)
    if not math.isfinite(number) or abs(number) > 1e9:  # far beyond any real resource
        raise BadRequest(f"{what} is out of range", code="bad_deployment")
    return number


def serving_create(body: Any) -> ServingCreate:
    """The SDK's predictor as the platform's serving: the limits of each instance are its
    resources (whole cores, rounded up); a fixed number of instances, the larger of the
    requested and the minimum ones, at least one (no autoscaling, no scale to zero)."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a deployment object", code="bad_deployment")
    if body.get("modelServer", MODEL_SERVER) != MODEL_SERVER:
        raise BadRequest(
            f"model server '{body.get('modelServer')}' is not available; the platform serves "
            "scikit-learn models with KServe's Python model server (modelServer PYTHON)",
            code="unsupported_model_server",
        )
    for key, what in (("predictor", "predictor scripts"), ("transformer", "transformers")):
        if body.get(key):
            raise BadRequest(
                f"{what} are not supported: the platform serves the model version's own files",
                code="unsupported_deployment",
            )
    resources = body.get("predictorResources") or {}
    if not isinstance(resources, dict):
        raise BadRequest("predictorResources must be an object", code="bad_deployment")
    limits = resources.get("limits") or resources.get("requests") or {}
    if not isinstance(limits, dict):
        raise BadRequest("predictorResources.limits must be an object", code="bad_deployment")
    cores = _number(limits.get("cores"), "cores")
    memory = _number(limits.get("memory"), "memory")
    gpus = _number(limits.get("gpus"), "gpus")
    scaling = body.get("predictorScalingConfig") or {}
    if not isinstance(scaling, dict):
        raise BadRequest("predictorScalingConfig must be an object", code="bad_deployment")
    instances = max(
        _number(body.get("requestedInstances"), "requestedInstances") or 0,
        _number(scaling.get("minInstances"), "minInstances") or 0,
    )
    fields: dict[str, Any] = {
        "name": body.get("name"),
        "model": body.get("modelName"),
        "version": body.get("modelVersion"),
        "instances": min(MAX_INSTANCES + 1, max(1, math.ceil(instances or 1))),
        "resources": {
            "cores": max(1, math.ceil(cores or 1)),
            "memory_mb": max(256, math.ceil(memory or 1024)),
            "gpus": math.ceil(gpus or 0),
        },
    }
    try:
        return ServingCreate.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise BadRequest(f"deployment: {problems}", code="bad_deployment") from None


def _ids(rt: Runtime, project: str) -> dict[str, int]:
    """Serving name -> row id (the SDK's deployment id) in the project."""
    with rt.read_sessions() as session:
        rows = session.execute(
            select(Serving.name, Serving.id)
            .join(Project, Project.id == Serving.project_id)
            .where(Project.name == project)
        ).all()
    return {name: serving_id for name, serving_id in rows}


def _name(rt: Runtime, project: str, serving_id: int) -> str:
    for name, row_id in _ids(rt, project).items():
        if row_id == serving_id:
            return name
    raise NotFound(
        f"deployment {serving_id} not found in project '{project}'", code=DEPLOYMENT_NOT_FOUND
    )


def _read(rt: Runtime, user: User, project_id: int, project: str, name: str) -> dict[str, Any]:
    serving = service.get(rt, user=user, project=project, name=name)
    serving_id = _ids(rt, project).get(name)
    if serving_id is None:  # deleted (and maybe created again) meanwhile
        raise NotFound(f"deployment '{name}' was deleted", code=DEPLOYMENT_NOT_FOUND)
    return deployment_json(project_id, project, serving_id, serving)


# --- routes ----------------------------------------------------------------------------


@router.get("/inference/endpoints", name="sdk.inference.endpoints")
def inference_endpoints(project: ProjectName) -> list[dict[str, Any]]:
    """No ingress of its own: predictions go through the platform (the SDK then uses the
    path `project/{id}/inference/models/{name}:predict`)."""
    return []


@router.put("/serving", name="sdk.serving.put")
def put_serving(
    project_id: int,
    body: dict[str, Any],
    project: ProjectName,
    user: CurrentUser,
    rt: RuntimeDep,
    response: Response,
) -> dict[str, Any]:
    """Create a deployment, stopped. A deployment with the name exists: 409 with the
    SDK's duplicate-entry code (the SDK then reads it and reuses it when it serves the same
    model version); one saved again unchanged answers as it is; any change is refused."""
    data = serving_create(body)
    existing = _ids(rt, project).get(data.name)
    if existing is not None:
        current = service.get(rt, user=user, project=project, name=data.name)
        if body.get("id") != existing:
            raise Conflict(
                f"a deployment named '{data.name}' exists in project '{project}'",
                code="serving_exists",
            )
        if (current.model, current.version, current.instances, current.resources) != (
            data.model,
            data.version,
            data.instances,
            data.resources,
        ):
            raise BadRequest(
                "a deployment cannot be changed here; delete it and deploy again",
                code="unsupported_deployment",
            )
        return deployment_json(project_id, project, existing, current)
    service.create(rt, user=user, project=project, data=data, start_now=False)
    response.status_code = status.HTTP_201_CREATED
    return _read(rt, user, project_id, project, data.name)


@router.get("/serving", name="sdk.serving.list")
def list_servings(
    project_id: int,
    project: ProjectName,
    user: CurrentUser,
    rt: RuntimeDep,
    name: Annotated[str | None, Query(max_length=255)] = None,
    model: Annotated[str | None, Query(max_length=255)] = None,
    status_filter: Annotated[str | None, Query(alias="status", max_length=32)] = None,
) -> Any:
    """With `name`: that deployment (404 if there is none); otherwise every deployment,
    filtered by model name and status as asked."""
    if name is not None:
        if name not in _ids(rt, project):
            raise NotFound(
                f"deployment '{name}' not found in project '{project}'", code=DEPLOYMENT_NOT_FOUND
            )
        return _read(rt, user, project_id, project, name)
    ids = _ids(rt, project)
    items = [
        deployment_json(project_id, project, ids[s.name], s)
        for s in service.list_servings(rt, user=user, project=project)
        if s.name in ids and (model is None or s.model == model)
    ]
    if status_filter is not None:
        items = [i for i in items if i["status"].lower() == status_filter.lower()]
    return {"type": "servingDTO", "count": len(items), "items": items}


@router.get("/serving/{serving_id}", name="sdk.serving.read")
def get_serving(
    project_id: int,
    serving_id: ServingId,
    project: ProjectName,
    user: CurrentUser,
    rt: RuntimeDep,
) -> dict[str, Any]:
    return _read(rt, user, project_id, project, _name(rt, project, serving_id))


@router.post("/serving/{serving_id}", name="sdk.serving.action")
def serving_action(
    project_id: int,
    serving_id: ServingId,
    project: ProjectName,
    user: CurrentUser,
    rt: RuntimeDep,
    action: Annotated[str, Query(max_length=16)],
) -> dict[str, Any]:
    """START a stopped (or failed) deployment, STOP a running one; either is a no-op on a
    deployment already in that state, as the SDK expects."""
    name = _name(rt, project, serving_id)
    current = service.get(rt, user=user, project=project, name=name)
    active = current.state in (ServingState.STARTING, ServingState.RUNNING)
    if action.upper() == "START":
        if not active:
            service.start(rt, user=user, project=project, name=name)
    elif action.upper() == "STOP":
        service.stop(rt, user=user, project=project, name=name)
    else:
        raise BadRequest(f"action '{action}': use START or STOP", code="bad_request")
    return _read(rt, user, project_id, project, name)


@router.delete(
    "/serving/{serving_id}", status_code=status.HTTP_204_NO_CONTENT, name="sdk.serving.delete"
)
def delete_serving(
    serving_id: ServingId, project: ProjectName, user: CurrentUser, rt: RuntimeDep
) -> None:
    service.delete(rt, user=user, project=project, name=_name(rt, project, serving_id))


@router.post("/inference/models/{name}:predict", name="sdk.serving.predict")
async def predict(
    name: ServingName, request: Request, project: ProjectName, user: CurrentUser, rt: RuntimeDep
) -> Response:
    """The platform's own predict route: KServe's v1 protocol, the inference log."""
    return await serving_views.predict(
        project=project, name=name, request=request, user=user, rt=rt
    )
