"""The SDK's project calls: project info by name, the caller's projects ("teams"),
creation, and the caller's credentials (`project/{id}/credentials`).

The SDK names a project by its numeric id in every path below `project/{id}/`, the platform
by its name: `SdkProject` (a dependency for every such route, here and in the other
sdk_compat modules) turns the id into the name, then the platform's services authorize by
name as for any other call (an outsider gets 404 for a project that exists).
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from hopsworks_api.deps import CurrentUser, RuntimeDep
from hopsworks_api.errors import NotFound
from hopsworks_api.identity import Role
from hopsworks_api.paths import SDK
from hopsworks_api.pki import credentials as credentials_service
from hopsworks_api.pki.models import Credentials
from hopsworks_api.projects import service as project_service
from hopsworks_api.projects.models import Project, ProjectCreate, ProjectRead, ProjectStatus
from hopsworks_api.runtime import Runtime
from hopsworks_api.schemas import Description, PageParams, ProjectName
from hopsworks_api.users.models import User

router = APIRouter(prefix=SDK, tags=["sdk"], include_in_schema=False)

MAX_ID = 2**63 - 1  # the DBs' BIGINT: a larger id names no project (and no 500)
PAGE = PageParams(limit=500)


def _epoch_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def project_name(rt: Runtime, project_id: int) -> str | None:
    """The name of the active project with this id, whoever asks (`SdkProject` checks
    the caller may see it)."""
    if project_id > MAX_ID:
        return None
    with rt.read_sessions() as session:
        return session.scalar(
            select(Project.name).where(
                Project.id == project_id, Project.status == ProjectStatus.ACTIVE
            )
        )


def _project_of_path(project_id: int, request: Request, user: CurrentUser, rt: RuntimeDep) -> str:
    """The name, once the caller may see the project: to anyone else a project's id is
    as missing as an unused one (its name is never told)."""
    missing = NotFound(f"project {project_id} not found", code="project_not_found")
    name = project_name(rt, project_id)
    if name is None:
        raise missing
    try:
        project_service.get(rt, user=user, project=name)
    except NotFound:
        raise missing from None
    request.state.audit.project = name
    return name


SdkProject = Annotated[str, Depends(_project_of_path)]
"""The project named by the `{project_id}` path parameter (int), for members (and
admins): 404 `project_not_found` otherwise."""


def _owner(user: User, project: ProjectRead) -> dict[str, Any]:
    """The platform has data owners, not one owner: the SDK's "owned projects" are those
    the caller owns data in."""
    uid = user.id if project.role == Role.DATA_OWNER else 0
    return {"uid": uid}


def project_info(user: User, project: ProjectRead) -> dict[str, Any]:
    return {
        "projectId": project.id,
        "projectName": project.name,
        "description": project.description,
        "created": project.created_at.isoformat(),
        "owner": _owner(user, project),
        "role": project.role,
    }


@router.get("/project/getProjectInfo/{name}", name="sdk.project.info")
def get_project_info(name: str, user: CurrentUser, rt: RuntimeDep) -> dict[str, Any]:
    return project_info(user, project_service.get(rt, user=user, project=name))


def _member_projects(rt: Runtime, user: User) -> list[ProjectRead]:
    """Every project the caller is a member of (an admin sees all projects in the
    platform's listing; the SDK's list is the caller's own teams)."""
    found: list[ProjectRead] = []
    page = PAGE
    while True:
        listed = project_service.list_projects(rt, user=user, page=page)
        found += [p for p in listed.items if p.role is not None]
        if page.offset + page.limit >= listed.total:
            return found
        page = PageParams(limit=page.limit, offset=page.offset + page.limit)


@router.get("/project", name="sdk.project.teams")
def project_teams(user: CurrentUser, rt: RuntimeDep) -> list[dict[str, Any]]:
    me = {"uid": user.id, "username": user.username, "email": user.email}
    return [
        {
            "project": {
                "id": p.id,
                "name": p.name,
                "owner": _owner(user, p),
                "created": p.created_at.isoformat(),
            },
            "user": me,
            "teamRole": p.role,
        }
        for p in _member_projects(rt, user)
    ]


class SdkProjectCreate(BaseModel):
    """The SDK's body: `featureStoreTopic` and `namespace` are accepted and ignored (the
    platform has no feature store; a project's namespace follows its name)."""

    model_config = ConfigDict(extra="ignore")

    projectName: ProjectName
    description: Description | None = None


@router.post("/project", status_code=status.HTTP_201_CREATED, name="sdk.project.create")
def create_project(
    body: SdkProjectCreate, request: Request, user: CurrentUser, rt: RuntimeDep
) -> dict[str, str]:
    request.state.audit.target = body.projectName
    data = ProjectCreate(name=body.projectName, description=body.description or "")
    created = project_service.create(rt, user=user, data=data)
    request.state.audit.project = created.name
    return {"successMessage": f"project '{created.name}' created"}


def _one_password(bundle: Credentials) -> tuple[str, str]:
    """The keystore and the truststore under the keystore's password (the SDK's `password`
    opens both); the truststore's certificates stay what pki put in it."""
    password = bundle.keystore_password.encode()
    store = pkcs12.load_pkcs12(
        base64.b64decode(bundle.truststore), bundle.truststore_password.encode()
    )
    truststore = pkcs12.serialize_java_truststore(
        store.additional_certs, serialization.BestAvailableEncryption(password)
    )
    return bundle.keystore, base64.b64encode(truststore).decode()


@router.get("/project/{project_id:int}/credentials", name="credentials.read")
def credentials(project: SdkProject, user: CurrentUser, rt: RuntimeDep) -> dict[str, Any]:
    """The caller's own certificate bundle for the project (audited as any credentials
    read: the route has the platform route's name)."""
    bundle = credentials_service.credentials(rt, user=user, project=project)
    keystore, truststore = _one_password(bundle)
    return {
        "kStore": keystore,
        "tStore": truststore,
        "password": bundle.keystore_password,
        "caChain": bundle.ca_chain,
        "clientCert": bundle.certificate,
        "clientKey": bundle.private_key,
        "fileExtension": "p12",
        "notAfter": _epoch_ms(bundle.not_after),
    }
