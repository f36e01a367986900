"""Quota routes: members read, platform admins change."""

from __future__ import annotations

from fastapi import APIRouter

from hopsworks_api.deps import CurrentUser, RuntimeDep
from hopsworks_api.paths import API
from hopsworks_api.quotas import service
from hopsworks_api.quotas.models import QuotaRead, QuotaUpdate

router = APIRouter(prefix=API + "/projects/{project}/quotas", tags=["quotas"])


@router.get("", name="quota.get")
def get_quotas(project: str, user: CurrentUser, rt: RuntimeDep) -> QuotaRead:
    return service.get(rt, user=user, project=project)


@router.put("", name="quota.set")
def set_quotas(project: str, body: QuotaUpdate, user: CurrentUser, rt: RuntimeDep) -> QuotaRead:
    return service.set_limits(rt, user=user, project=project, data=body)
