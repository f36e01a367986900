"""Job and execution routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from hopsworks_api.backends.runner.base import Stream
from hopsworks_api.deps import CurrentUser, PageDep, RuntimeDep
from hopsworks_api.jobs import service
from hopsworks_api.jobs.models import ExecutionRead, ExecutionStart, JobCreate, JobRead, JobUpdate
from hopsworks_api.paths import API
from hopsworks_api.schemas import Page, paginate

# a row id: past a 32-bit integer no execution exists (and SQLite cannot even look it up)
ExecutionId = Annotated[int, Path(ge=1, le=2_147_483_647)]

router = APIRouter(prefix=API + "/projects/{project}/jobs", tags=["jobs"])


@router.post("", status_code=status.HTTP_201_CREATED, name="job.create")
def create_job(project: str, body: JobCreate, user: CurrentUser, rt: RuntimeDep) -> JobRead:
    return service.create_job(rt, user=user, project=project, data=body)


@router.get("", name="job.list")
def list_jobs(project: str, user: CurrentUser, rt: RuntimeDep, page: PageDep) -> Page[JobRead]:
    return paginate(service.list_jobs(rt, user=user, project=project), page)


@router.get("/{job}", name="job.read")
def get_job(project: str, job: str, user: CurrentUser, rt: RuntimeDep) -> JobRead:
    return service.get_job(rt, user=user, project=project, job=job)


@router.put("/{job}", name="job.update")
def update_job(
    project: str, job: str, body: JobUpdate, user: CurrentUser, rt: RuntimeDep
) -> JobRead:
    return service.update_job(rt, user=user, project=project, job=job, data=body)


@router.delete("/{job}", status_code=status.HTTP_204_NO_CONTENT, name="job.delete")
def delete_job(project: str, job: str, user: CurrentUser, rt: RuntimeDep) -> None:
    service.delete_job(rt, user=user, project=project, job=job)


@router.post("/{job}/executions", status_code=status.HTTP_201_CREATED, name="execution.start")
def start(
    project: str,
    job: str,
    user: CurrentUser,
    rt: RuntimeDep,
    body: ExecutionStart | None = None,
) -> ExecutionRead:
    return service.start(rt, user=user, project=project, job=job, data=body or ExecutionStart())


@router.get("/{job}/executions", name="execution.list")
def list_executions(
    project: str, job: str, user: CurrentUser, rt: RuntimeDep, page: PageDep
) -> Page[ExecutionRead]:
    return service.list_executions(rt, user=user, project=project, job=job, page=page)


@router.get("/{job}/executions/{execution_id}", name="execution.read")
def get_execution(
    project: str, job: str, execution_id: ExecutionId, user: CurrentUser, rt: RuntimeDep
) -> ExecutionRead:
    return service.get_execution(rt, user=user, project=project, job=job, execution_id=execution_id)


@router.get("/{job}/executions/{execution_id}/log", name="execution.log")
def read_log(
    project: str,
    job: str,
    execution_id: ExecutionId,
    user: CurrentUser,
    rt: RuntimeDep,
    stream: Stream = Stream.STDOUT,
) -> Response:
    data = service.read_log(
        rt, user=user, project=project, job=job, execution_id=execution_id, stream=stream
    )
    return Response(content=data, media_type="text/plain; charset=utf-8")


@router.post(
    "/{job}/executions/{execution_id}/stop",
    status_code=status.HTTP_202_ACCEPTED,
    name="execution.stop",
)
def stop(
    project: str, job: str, execution_id: ExecutionId, user: CurrentUser, rt: RuntimeDep
) -> ExecutionRead:
    return service.stop(rt, user=user, project=project, job=job, execution_id=execution_id)
