"""Where the service's two APIs are mounted: its own REST API and the paths the `hopsworks`
SDK calls.

Every router carries its mount point in its own prefix and the app is built from their
routes directly (`api.routes`, `sdk_compat.router.routes`), never with `include_router`:
FastAPI matches an included router's routes twice per request (once to pick the router,
once to dispatch inside it) through per-request bookkeeping of the inclusion: a sixth of a
project read's profile in the application, a few per cent over HTTP (docs/performance.md).
"""

API = "/api"
SDK = "/hopsworks-api/api"
