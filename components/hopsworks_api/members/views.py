"""Member routes."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from hopsworks_api.deps import CurrentUser, PageDep, RuntimeDep
from hopsworks_api.members import service
from hopsworks_api.members.models import MemberAdd, MemberRead, MemberUpdate
from hopsworks_api.paths import API
from hopsworks_api.schemas import Page, paginate

router = APIRouter(prefix=API + "/projects/{project}/members", tags=["members"])


@router.get("", name="member.list")
def list_members(
    project: str, user: CurrentUser, rt: RuntimeDep, page: PageDep
) -> Page[MemberRead]:
    return paginate(service.list_members(rt, user=user, project=project), page)


@router.post("", status_code=status.HTTP_201_CREATED, name="member.add")
def add_member(
    project: str, body: MemberAdd, user: CurrentUser, rt: RuntimeDep, request: Request
) -> MemberRead:
    # the feed names who was added (the path names only the project)
    request.state.audit.target = body.email.lower()
    return service.add(rt, user=user, project=project, data=body)


@router.put("/{email}", name="member.change_role")
def change_role(
    project: str, email: str, body: MemberUpdate, user: CurrentUser, rt: RuntimeDep
) -> MemberRead:
    return service.change_role(rt, user=user, project=project, email=email, data=body)


@router.delete("/{email}", status_code=status.HTTP_204_NO_CONTENT, name="member.remove")
def remove_member(project: str, email: str, user: CurrentUser, rt: RuntimeDep) -> None:
    service.remove(rt, user=user, project=project, email=email)
