"""One router for every path the `hopsworks` SDK calls, mounted beside `/api`."""

from __future__ import annotations

from fastapi import APIRouter

from hopsworks_api.sdk_compat import datasets, jobs, kafka, models, projects, serving, variables

PREFIX = "/hopsworks-api/api"

sdk_router = APIRouter(prefix=PREFIX, include_in_schema=False)
for module in (variables, projects, datasets, kafka, jobs, models, serving):
    sdk_router.include_router(module.router)
