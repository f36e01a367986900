"""Every path the `hopsworks` SDK calls, mounted beside `/api` (each module's router
carries the mount point, hopsworks_api.paths.SDK, in its prefix; that module says why the
list is flat)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from hopsworks_api.sdk_compat import datasets, jobs, kafka, models, projects, serving, variables

routes: list[BaseRoute] = [
    route
    for module in (variables, projects, datasets, kafka, jobs, models, serving)
    for route in module.router.routes
]
