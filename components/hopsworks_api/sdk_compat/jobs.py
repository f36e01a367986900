"""The SDK's jobs and executions (`project/{id}/jobs/...`), translated to `jobs.service`.

The SDK describes a job by a Hopsworks job configuration (`pythonJobConfiguration` or
`sparkJobConfiguration`, its `appPath` an `hdfs:///Projects/<p>/<dataset>/<path>` URL) and
creates or replaces it with one `PUT`. Executions are polled until their `state` is one the
SDK treats as final (the platform's FINISHED, FAILED and KILLED are those names); their logs
are read through the dataset API at `stdoutPath` / `stderrPath`, which point at where the
platform keeps them (`Logs/<job>/<execution id>/<stream>.log`, written when the run ends).
"""

from __future__ import annotations

import json
import math
import re
import shlex
from typing import Annotated, Any, TypeVar

from anyio import to_thread
from fastapi import APIRouter, Path, Query, Request, Response, status
from pydantic import BaseModel, ValidationError
from sqlalchemy import select

from hopsworks_api.deps import CurrentUser, RuntimeDep
from hopsworks_api.errors import BadRequest, NotFound
from hopsworks_api.jobs import service
from hopsworks_api.jobs.models import (
    JOB_NAME,
    ExecutionRead,
    ExecutionStart,
    ExecutionState,
    Job,
    JobCreate,
    JobRead,
    JobType,
    JobUpdate,
    Resources,
)
from hopsworks_api.paths import SDK
from hopsworks_api.projects.models import Project
from hopsworks_api.runtime import Runtime
from hopsworks_api.schemas import PageParams
from hopsworks_api.sdk_compat.projects import SdkProject as ProjectName
from hopsworks_api.users.models import User

router = APIRouter(prefix=SDK + "/project/{project_id:int}/jobs", include_in_schema=False)

ExecutionId = Annotated[int, Path(ge=1, le=2_147_483_647)]
JobName = Annotated[str, Path(pattern=JOB_NAME)]
# any name can be asked for: one no job can have is simply not there (`job_api.exists`)
AnyJobName = Annotated[str, Path(max_length=255)]

M = TypeVar("M", bound=BaseModel)
BAD_CONFIG = "bad_job_configuration"
JOB_NOT_FOUND = "job_not_found"  # sdk_compat.errors: the SDK's 130009
PYTHON_CONFIG = "pythonJobConfiguration"
SPARK_CONFIG = "sparkJobConfiguration"
PYSPARK_MAIN = "org.apache.spark.deploy.PythonRunner"  # what the SDK sets for a .py Spark app
# hdfs://[authority]/Projects/<project>/<dataset>/<path>
_HDFS_APP = re.compile(r"^hdfs://[^/]*/Projects/(?P<project>[^/]+)/(?P<path>.+)$")
# The YARN-style final status of each platform state, which the SDK reads for Spark jobs.
FINAL_STATUS = {
    ExecutionState.FINISHED: "SUCCEEDED",
    ExecutionState.FAILED: "FAILED",
    ExecutionState.KILLED: "KILLED",
}


# --- the SDK's shapes ------------------------------------------------------------------


def default_configuration(job_type: str) -> dict[str, Any]:
    """What `job_api.get_configuration(type)` starts from; `appPath` is left out on
    purpose (the SDK refuses a configuration without one, so the caller sets it)."""
    resources = Resources()
    if job_type == "python":
        return {
            "type": PYTHON_CONFIG,
            "appName": None,
            "defaultArgs": None,
            "environmentName": "default",
            "resourceConfig": {
                "cores": float(resources.cores),
                "memory": resources.memory_mb,
                "gpus": resources.gpus,
            },
            "logRedirection": True,
            "jobType": "PYTHON",
        }
    if job_type in ("pyspark", "spark"):
        return {
            "type": SPARK_CONFIG,
            "appName": None,
            "defaultArgs": None,
            "environmentName": "default",
            "amMemory": resources.memory_mb,
            "amVCores": resources.cores,
            "spark.executor.instances": resources.executors,
            "spark.executor.cores": resources.executor_cores,
            "spark.executor.memory": resources.executor_memory_mb,
            "spark.dynamicAllocation.enabled": False,
            "jobType": job_type.upper(),
        }
    raise BadRequest(
        f"job type '{job_type}' is not supported here; the platform runs PYTHON, PYSPARK and "
        "SPARK jobs",
        code="unsupported_job_type",
    )


def _app_path(project: str, app_path: Any) -> str:
    """`hdfs:///Projects/<p>/<dataset>/<path>` -> `<dataset>/<path>` (this project only)."""
    if not isinstance(app_path, str):
        raise BadRequest("the job configuration needs an appPath", code="bad_app_path")
    match = _HDFS_APP.match(app_path)
    if match is None:
        raise BadRequest(
            f"appPath '{app_path}' must be hdfs:///Projects/{project}/<dataset>/<path>",
            code="bad_app_path",
        )
    if match["project"] != project:
        raise BadRequest(
            f"appPath '{app_path}' is outside project '{project}'", code="bad_app_path"
        )
    return match["path"]


def _number(config: dict[str, Any], key: str, default: int) -> int:
    value = config.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadRequest(f"'{key}' must be a number", code="bad_job_configuration")
    try:
        return math.ceil(float(value))
    except (ValueError, OverflowError):
        raise BadRequest(f"'{key}' must be a number", code="bad_job_configuration") from None


def _args(value: Any) -> list[str]:
    """The SDK passes arguments as one string, split as a shell would."""
    if value is None or value == "":
        return []
    if not isinstance(value, str):
        raise BadRequest("arguments must be a string", code="bad_job_configuration")
    try:
        return shlex.split(value)
    except ValueError as exc:
        raise BadRequest(f"arguments '{value}': {exc}", code="bad_job_configuration") from None


def job_update(project: str, config: Any) -> JobUpdate:
    """A Hopsworks job configuration as the platform's job definition."""
    if not isinstance(config, dict):
        raise BadRequest("the body must be a job configuration object", code=BAD_CONFIG)
    kind = config.get("type")
    app_path = _app_path(project, config.get("appPath"))
    fields: dict[str, Any] = {
        "app_path": app_path,
        "args": _args(config.get("defaultArgs")),
        "environment": config.get("environmentName") or "default",
    }
    if kind == PYTHON_CONFIG:
        resource = config.get("resourceConfig") or {}
        if not isinstance(resource, dict):
            raise BadRequest("'resourceConfig' must be an object", code="bad_job_configuration")
        fields["type"] = JobType.PYTHON
        fields["resources"] = {
            "cores": _number(resource, "cores", 1),
            "memory_mb": _number(resource, "memory", 1024),
            "gpus": _number(resource, "gpus", 0),
        }
    elif kind == SPARK_CONFIG:
        main_class = config.get("mainClass")
        python = app_path.endswith(".py")
        fields["type"] = JobType.PYSPARK if python else JobType.SPARK
        fields["main_class"] = None if python or main_class == PYSPARK_MAIN else main_class
        fields["resources"] = {
            "cores": _number(config, "amVCores", 1),
            "memory_mb": _number(config, "amMemory", 1024),
            "executors": _number(config, "spark.executor.instances", 1),
            "executor_cores": _number(config, "spark.executor.cores", 1),
            "executor_memory_mb": _number(config, "spark.executor.memory", 1024),
        }
    else:
        raise BadRequest(
            f"job configuration type '{kind}' is not supported here; use "
            f"{PYTHON_CONFIG} or {SPARK_CONFIG}",
            code="unsupported_job_type",
        )
    return _valid(JobUpdate, fields, "job configuration")


def _valid(model: type[M], fields: dict[str, Any], what: str) -> M:
    """Validated as the platform's own routes would, a refusal a 400 naming each field."""
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise BadRequest(f"{what}: {problems}", code=BAD_CONFIG) from None


def _configuration(project: str, job: JobRead) -> dict[str, Any]:
    config = default_configuration(job.type.value)
    config["appPath"] = f"hdfs:///Projects/{project}/{job.app_path}"
    config["defaultArgs"] = shlex.join(job.args) if job.args else None
    config["environmentName"] = job.environment
    resources = job.resources
    if job.type == JobType.PYTHON:
        config["resourceConfig"] = {
            "cores": float(resources.cores),
            "memory": resources.memory_mb,
            "gpus": resources.gpus,
        }
    else:
        config.update(
            {
                "amMemory": resources.memory_mb,
                "amVCores": resources.cores,
                "spark.executor.instances": resources.executors,
                "spark.executor.cores": resources.executor_cores,
                "spark.executor.memory": resources.executor_memory_mb,
                "mainClass": job.main_class if job.type == JobType.SPARK else PYSPARK_MAIN,
            }
        )
    return config


def _millis(value: Any) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


def _user(email: str | None) -> dict[str, Any] | None:
    return None if email is None else {"email": email, "username": email}


def job_json(project: str, job_id: int, job: JobRead) -> dict[str, Any]:
    return {
        "type": "jobDTO",
        "id": job_id,
        "name": job.name,
        "creationTime": job.created_at.isoformat(),
        "config": _configuration(project, job),
        "jobType": job.type.value.upper(),
        "creator": _user(job.creator),
        "description": None,
    }


def execution_json(project: str, execution: ExecutionRead) -> dict[str, Any]:
    logs = f"/Projects/{project}/{service.LOGS_DATASET}/{execution.job}/{execution.id}"
    final = FINAL_STATUS.get(execution.state, "UNDEFINED")
    return {
        "type": "executionDTO",
        "id": execution.id,
        "state": execution.state.value,
        "finalStatus": final,
        "submissionTime": execution.submitted_at.isoformat(),
        "stdoutPath": f"{logs}/stdout.log",
        "stderrPath": f"{logs}/stderr.log",
        "args": shlex.join(execution.args),
        "progress": 0.0 if final == "UNDEFINED" else 1.0,
        "user": _user(execution.submitted_by),
        "duration": None if execution.duration_s is None else round(execution.duration_s * 1000),
        "exitCode": execution.exit_code,
        "appId": str(execution.id),
        "hdfsUser": None,
    }


def _job_id(rt: Runtime, project: str, name: str) -> int:
    """The job's row id (the SDK's `job.id`); the service said it exists."""
    with rt.read_sessions() as session:
        job_id = session.scalar(
            select(Job.id)
            .join(Project, Project.id == Job.project_id)
            .where(Project.name == project, Job.name == name)
        )
    if job_id is None:
        raise NotFound(f"job '{name}' not found in project '{project}'")
    return job_id


def _read_job(rt: Runtime, user: User, project: str, name: str) -> dict[str, Any]:
    """The job, or 404 with the code the SDK reads as "no such job" (`get_job` -> None)."""
    try:
        job = service.get_job(rt, user=user, project=project, job=name)
        return job_json(project, _job_id(rt, project, name), job)
    except NotFound as exc:
        raise NotFound(exc.message, code=JOB_NOT_FOUND) from None


# --- routes ----------------------------------------------------------------------------


@router.get("/{job_type}/configuration", name="sdk.job.configuration")
def configuration(job_type: str, project: ProjectName) -> dict[str, Any]:
    return default_configuration(job_type.lower())


@router.get("", name="sdk.job.list")
def list_jobs(project: ProjectName, user: CurrentUser, rt: RuntimeDep) -> dict[str, Any]:
    jobs = service.list_jobs(rt, user=user, project=project)
    items = [job_json(project, _job_id(rt, project, j.name), j) for j in jobs]
    return {"type": "jobDTO", "count": len(items), "items": items}


@router.get("/{name}", name="sdk.job.read")
def get_job(name: AnyJobName, project: ProjectName, user: CurrentUser, rt: RuntimeDep) -> dict:
    return _read_job(rt, user, project, name)


@router.put("/{name}", name="sdk.job.put")
def put_job(
    name: JobName,
    body: dict[str, Any],
    project: ProjectName,
    user: CurrentUser,
    rt: RuntimeDep,
    response: Response,
) -> dict[str, Any]:
    """Create the job, or replace the definition of the one with this name."""
    data = job_update(project, body)
    try:
        service.get_job(rt, user=user, project=project, job=name)
    except NotFound:
        job = service.create_job(
            rt, user=user, project=project, data=JobCreate(name=name, **data.model_dump())
        )
        response.status_code = status.HTTP_201_CREATED
    else:
        job = service.update_job(rt, user=user, project=project, job=name, data=data)
    return job_json(project, _job_id(rt, project, name), job)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT, name="sdk.job.delete")
def delete_job(name: JobName, project: ProjectName, user: CurrentUser, rt: RuntimeDep) -> None:
    service.delete_job(rt, user=user, project=project, job=name)


@router.post("/{name}/executions", status_code=status.HTTP_201_CREATED, name="sdk.execution.start")
async def start(
    name: JobName, request: Request, project: ProjectName, user: CurrentUser, rt: RuntimeDep
) -> dict[str, Any]:
    """The SDK sends the arguments as a text/plain body (none: the job's default ones), or
    a JSON object with `args` when it sets run-time variables, which are not supported."""
    raw = (await request.body()).decode("utf-8", errors="replace")
    args: str | None = raw if raw else None
    if request.headers.get("content-type", "").startswith("application/json") and raw:
        try:
            body = json.loads(raw)
        except ValueError:
            raise BadRequest("the body is not JSON", code="bad_request") from None
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object", code="bad_request")
        unsupported = sorted(set(body) - {"args"})
        if unsupported:
            raise BadRequest(
                f"{', '.join(unsupported)}: not supported by this platform's executions",
                code="unsupported_execution_option",
            )
        args = body.get("args")
    data = _valid(ExecutionStart, {"args": None if args is None else _args(args)}, "arguments")
    execution = await to_thread.run_sync(
        lambda: service.start(rt, user=user, project=project, job=name, data=data)
    )
    return execution_json(project, execution)


@router.get("/{name}/executions", name="sdk.execution.list")
def list_executions(
    name: JobName,
    project: ProjectName,
    user: CurrentUser,
    rt: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> dict[str, Any]:
    """Newest first, which is the only order the SDK asks for (`submissiontime:desc`)."""
    page = service.list_executions(
        rt, user=user, project=project, job=name, page=PageParams(limit=limit, offset=offset)
    )
    items = [execution_json(project, e) for e in page.items]
    return {"type": "executionDTO", "count": page.total, "items": items}


@router.get("/{name}/executions/{execution_id}", name="sdk.execution.read")
def get_execution(
    name: JobName,
    execution_id: ExecutionId,
    project: ProjectName,
    user: CurrentUser,
    rt: RuntimeDep,
) -> dict[str, Any]:
    execution = service.get_execution(
        rt, user=user, project=project, job=name, execution_id=execution_id
    )
    return execution_json(project, execution)


@router.put("/{name}/executions/{execution_id}/status", name="sdk.execution.stop")
async def stop_execution(
    name: JobName,
    execution_id: ExecutionId,
    request: Request,
    project: ProjectName,
    user: CurrentUser,
    rt: RuntimeDep,
) -> dict[str, Any]:
    """`execution.stop()` asks for the state `stopped` (form-encoded, though labelled
    JSON); no other change of state is possible."""
    raw = (await request.body()).decode("utf-8", errors="replace").strip()
    if raw not in ("state=stopped", '{"state": "stopped"}', '{"state":"stopped"}'):
        raise BadRequest("an execution's state can only be set to 'stopped'", code="bad_request")
    execution = await to_thread.run_sync(
        lambda: service.stop(rt, user=user, project=project, job=name, execution_id=execution_id)
    )
    return execution_json(project, execution)
