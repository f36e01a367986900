"""Every route of the REST API under /api, in matching order (each domain router carries the
mount point in its prefix: hopsworks_api.paths says why the list is flat)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text
from starlette.routing import BaseRoute

from hopsworks_api.audit.views import router as audit_router
from hopsworks_api.datasets.upload_views import router as uploads_router
from hopsworks_api.datasets.views import router as datasets_router
from hopsworks_api.deps import RuntimeDep
from hopsworks_api.environments.views import router as environments_router
from hopsworks_api.errors import Unavailable
from hopsworks_api.jobs.views import router as jobs_router
from hopsworks_api.members.views import router as members_router
from hopsworks_api.model_registry.views import router as models_router
from hopsworks_api.notebooks.views import router as notebooks_router
from hopsworks_api.paths import API
from hopsworks_api.pki.views import ca_router, credentials_router
from hopsworks_api.projects.views import router as projects_router
from hopsworks_api.quotas.views import router as quotas_router
from hopsworks_api.servings.views import router as servings_router
from hopsworks_api.sharing.resource_views import router as resource_sharing_router
from hopsworks_api.sharing.views import router as sharing_router
from hopsworks_api.topics.views import router as topics_router
from hopsworks_api.users.views import auth_router, users_router

health_router = APIRouter(prefix=API)


@health_router.get("/health", tags=["health"], name="health")
def health(rt: RuntimeDep) -> dict[str, str]:
    try:
        with rt.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        raise Unavailable("metadata database does not answer") from exc
    return {"status": "ok", "database": rt.engine.dialect.name}


routes: list[BaseRoute] = [
    route
    for router in (
        health_router,
        auth_router,
        users_router,
        projects_router,
        members_router,
        datasets_router,
        uploads_router,
        sharing_router,
        quotas_router,
        audit_router,
        ca_router,
        credentials_router,
        topics_router,
        resource_sharing_router,
        environments_router,
        jobs_router,
        models_router,
        notebooks_router,
        servings_router,
    )
    for route in router.routes
]
