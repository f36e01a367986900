"""The OpenAPI document tells the truth: every error an operation answers, in one place.

FastAPI documents a route's success response and a 422. Everything else this service
answers is derived here from what the route depends on, so a route is documented
correctly the moment it is mounted, without anyone listing statuses by hand:

- every request: 413 (the body-size limit is applied before routing, whatever the route)
  and 503 (the metadata DB, the storage or a backing system did not answer);
- the route authenticates (depends on `deps.get_principal` or `deps.get_current_user`):
  401 with `WWW-Authenticate`, and 403 (agent keys and project certificates are confined
  to a few routes; members may lack the right; some routes are for platform admins only);
- the route has a path parameter: 404 (an unknown or invisible project, dataset, member,
  key, file, share; outsiders get 404 rather than 403 for projects they cannot see);
- the route reads a JSON body: 400 (not JSON) and 422 (does not match the schema); a query
  parameter or a typed path parameter: 422;
- an authenticated route that changes state (POST, PUT, PATCH, DELETE): 409 (a name
  already in use, the last data owner, a default dataset, an offer already accepted);

plus `DOMAIN_ERRORS` below: statuses particular to a domain, declared by route-name
pattern next to a description of the error that causes them. A route may also declare its
own `responses={...}` in its decorator; those are kept and given the error schema.

Every error response has the one body shape `{"error": {"code", "message"}}` (the `Error`
component, errors.py) and every response names its `X-Request-ID` header. 500 is not
documented: it is a bug, and the fuzzer fails on it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, iter_route_contexts

from hopsworks_api import deps
from hopsworks_api.backends.storage.base import (
    MAX_PATH_BYTES,
    MAX_SEGMENT_BYTES,
    RESERVED_PREFIX,
)
from hopsworks_api.errors import error_body
from hopsworks_api.schemas import DATASET_NAME_RE
from hopsworks_api.users import session as web_session

ERROR_REF = "#/components/schemas/Error"
# the dependencies that authenticate the caller (deps.py)
AUTHENTICATING = frozenset({deps.get_principal, deps.get_current_user})
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PEM = "application/x-pem-file"

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "description": "The one shape of every error answer (4xx and 5xx).",
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {
                    "type": "string",
                    "description": "Stable, machine-readable: `not_found`, `conflict`, "
                    "`validation_error`, `malformed_json`, `quota_exceeded`, ...",
                },
                "message": {"type": "string", "description": "For people; may change."},
                "system": {
                    "type": "string",
                    "description": "On 503 from a backing system: which one (hdfs, hive, "
                    "kafka, yarn, kubernetes).",
                },
            },
        }
    },
}

HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "required": True,
        "description": "Identifies the request in the access log and the audit trail; a "
        "client's own X-Request-ID is echoed when it is well formed.",
        "schema": {"type": "string"},
    },
    "WWW-Authenticate": {
        "required": True,
        "description": "The authentication schemes the service accepts (RFC 9110).",
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "required": True,
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 0},
    },
}

# Statuses particular to some routes, by route name (fnmatch pattern) -> status -> why.
# Generic statuses (above) are not repeated here.
DOMAIN_ERRORS: dict[str, dict[int, str]] = {
    "user.register": {
        403: "Registration is closed on this platform.",
        409: "An account with this email exists.",
    },
    "user.login": {
        401: "Wrong email or password.",
        429: "Too many failed logins for this account or from this client; see Retry-After.",
    },
    "user.refresh": {
        401: "The refresh token is unknown, expired, used up or revoked.",
    },
    "file.*": {400: "The path breaks a rule of `path` (a segment '', '.' or '..', too long)."},
    "file.upload": {
        400: "Content-Length is not a non-negative integer, the body is shorter or longer "
        "than it, or the path breaks a rule of `path`.",
        408: "The client stopped sending the body; its quota reservation was released.",
        413: "The file would exceed the project's storage quota (bytes or files).",
    },
    "upload.create": {
        400: "The path breaks a rule of `path`, or size, chunk_size and total_chunks do not "
        "add up (every chunk chunk_size long but the last, which holds the rest).",
        413: "The file would exceed the project's storage quota (bytes or files).",
    },
    "upload.chunk": {
        400: "The chunk number is outside 1..total_chunks, or the body is not exactly that "
        "chunk's length.",
        408: "The client stopped sending the chunk.",
    },
    "file.delete": {
        400: "The path is empty (delete a dataset with DELETE on the dataset) or breaks a "
        "rule of `path`.",
    },
    "share.offer": {400: "A dataset cannot be shared with its own project, or onward."},
    "share.list": {400: "Only a project's own datasets are shared (not `owner::name`)."},
    "share.unshare": {400: "Only a project's own datasets are shared (not `owner::name`)."},
    "topic_share.offer": {400: "A topic cannot be shared with its own project."},
    "hive_share.offer": {400: "A Hive database cannot be shared with its own project."},
    "share.accept": {400: "The reference is not `<owner_project>::<dataset>`."},
    "share.reject": {400: "The reference is not `<owner_project>::<dataset>`."},
    "topic_share.accept": {400: "The reference is not `<owner_project>::<topic>`."},
    "topic_share.reject": {400: "The reference is not `<owner_project>::<topic>`."},
    "topic.create": {413: "The project's Kafka topic quota is used up."},
    "ca.sign_host": {
        400: "The CSR is not PEM, does not verify, names no single valid host, or uses a weak key.",
    },
    "apikey.create": {400: "An agent key needs at least one host pattern."},
}

# Path parameters whose rules the code enforces (with 400) although the views declare them
# as plain strings: (route-name pattern, parameter) -> the JSON Schema keywords that say so.
PATH_PARAMETERS: dict[tuple[str, str], dict[str, Any]] = {
    ("file.*", "path"): {
        "pattern": r"^[^\\\x00-\x1f]+$",
        "description": "A path inside the dataset, '/'-separated. No backslash or control "
        f"character; no segment that is empty, '.' or '..' or starts with '{RESERVED_PREFIX}'; "
        f"at most {MAX_PATH_BYTES} bytes (UTF-8) in all and {MAX_SEGMENT_BYTES} per segment.",
    },
    ("share.*", "dataset"): {
        "pattern": DATASET_NAME_RE.pattern,
        "description": "One of the project's own datasets.",
    },
    ("*share.*", "ref"): {
        "pattern": r"^[^:]+::.+$",
        "description": "`<owner_project>::<name>`: the offer to answer.",
    },
}

# Authenticated state-changing routes that cannot conflict with anything.
NO_CONFLICT = frozenset(
    {"ca.sign_host", "quota.set", "user.logout", "user.password", "user.approve"}
)

# Non-JSON success bodies the route's return type cannot tell FastAPI about.
MEDIA_TYPES: dict[str, str] = {"ca.chain": PEM, "ca.crl": PEM}

GENERIC = {
    400: "The body is not valid JSON.",
    401: "No credentials, or they are invalid, expired or revoked.",
    403: "The caller is authenticated but may not do this: a role without the right, a "
    "non-admin on an admin route, or an agent key or project certificate outside its "
    "confinement.",
    404: "Not found, or not visible to the caller (outsiders get 404, not 403).",
    409: "The request conflicts with the current state.",
    413: "The request body is over the service's body-size limit.",
    422: "A parameter or the body does not match the schema.",
    503: "The metadata database, the storage or a backing system did not answer; "
    "nothing was changed.",
}


def _calls(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def _validates_parameters(dependant: Dependant) -> bool:
    """Whether a parameter can fail validation: any query or header parameter, or a path
    parameter of another type than str (a str path segment always validates)."""
    return any(
        d.query_params
        or d.header_params
        or any(field.field_info.annotation is not str for field in d.path_params)
        for d in _dependants(dependant)
    )


def _authenticates(route: APIRoute) -> bool:
    return not AUTHENTICATING.isdisjoint(_calls(route.dependant))


def error_statuses(route: APIRoute, method: str) -> dict[int, str]:
    """Every error status `route` can answer to `method`, with why."""
    authenticates = _authenticates(route)
    statuses: dict[int, str] = {413: GENERIC[413], 503: GENERIC[503]}
    if authenticates:
        statuses[401] = GENERIC[401]
        statuses[403] = GENERIC[403]
    if route.dependant.path_params:
        statuses[404] = GENERIC[404]
    if route.body_field is not None:
        statuses[400] = GENERIC[400]
    if route.body_field is not None or _validates_parameters(route.dependant):
        statuses[422] = GENERIC[422]
    if authenticates and method in MUTATING and route.name not in NO_CONFLICT:
        statuses[409] = GENERIC[409]
    for pattern, extras in DOMAIN_ERRORS.items():
        if fnmatch.fnmatchcase(route.name, pattern):
            statuses.update(extras)
    return statuses


def _error_response(status: int, description: str, existing: dict[str, Any]) -> dict[str, Any]:
    response = dict(existing)
    if not response.get("description") or response["description"] in (
        "Validation Error",
        "Additional Response",
    ):
        response["description"] = description
    response["content"] = {"application/json": {"schema": {"$ref": ERROR_REF}}}
    headers = dict(response.get("headers") or {})
    if status == 401:
        headers["WWW-Authenticate"] = {"$ref": "#/components/headers/WWW-Authenticate"}
    if status == 429:
        headers["Retry-After"] = {
            "$ref": "#/components/headers/Retry-After",
        }
    if headers:
        response["headers"] = headers
    return response


def _constrain_parameters(operation: dict[str, Any], route: APIRoute) -> None:
    for parameter in operation.get("parameters", []):
        if parameter.get("in") != "path":
            continue
        for (pattern, name), keywords in PATH_PARAMETERS.items():
            if name == parameter["name"] and fnmatch.fnmatchcase(route.name, pattern):
                extra = dict(keywords)
                if "description" in extra:
                    parameter["description"] = extra.pop("description")
                parameter.setdefault("schema", {}).update(extra)


def _describe_raw_bodies(operation: dict[str, Any]) -> None:
    """A raw body declared without a schema is bytes: say so, or clients guess JSON."""
    content = operation.get("requestBody", {}).get("content", {})
    for media_type, body in content.items():
        if media_type != "application/json" and not body.get("schema"):
            body["schema"] = {"type": "string", "format": "binary"}


def _document(operation: dict[str, Any], route: APIRoute, method: str) -> None:
    _constrain_parameters(operation, route)
    _describe_raw_bodies(operation)
    responses: dict[str, Any] = operation.setdefault("responses", {})
    # FastAPI adds 422 to every route with any parameter; keep it only where it can happen.
    responses.pop("422", None)
    for status, description in sorted(error_statuses(route, method).items()):
        responses[str(status)] = _error_response(
            status, description, responses.get(str(status), {})
        )
    for code, response in list(responses.items()):
        if code.isdigit() and int(code) >= 400 and "content" not in response:
            responses[code] = _error_response(int(code), response.get("description", ""), response)
    if route.name in MEDIA_TYPES:
        for code, response in responses.items():
            if code.startswith("2"):
                response["content"] = {MEDIA_TYPES[route.name]: {"schema": {"type": "string"}}}
    for response in responses.values():
        response.setdefault("headers", {})["X-Request-ID"] = {
            "$ref": "#/components/headers/X-Request-ID"
        }


SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "HTTPBearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "JWT from /api/auth/login",
    },
    "APIKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "An API key (`hops_...`) in `X-API-Key`, or as "
        "`Authorization: ApiKey <key>`.",
    },
    "APIKeyCookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": web_session.SESSION_COOKIE,
        "description": "A browser's session (POST /api/auth/session); changes need the "
        "service's own Origin",
    },
    "mutualTLS": {
        "type": "mutualTLS",
        "description": "Over `hops serve --tls`: a project certificate "
        "(`CN=<project>__<user>`), valid inside its own project, for /api/users/me and for "
        "/api/ca/*.",
    },
}


def _document_security(schema: dict[str, Any], routes: dict[tuple[str, str], APIRoute]) -> None:
    """`deps.get_principal` reads every credential itself (one dependency, not one per
    scheme: docs/performance.md), so the schemes it accepts are named here, on every
    operation that depends on it."""
    schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            route = routes.get((path, method))
            if route is not None and _authenticates(route):
                operation["security"] = [{name: []} for name in SECURITY_SCHEMES]


def _routes(app: FastAPI) -> dict[tuple[str, str], APIRoute]:
    """Every API route as mounted (FastAPI keeps included routers nested; a route context
    carries the route's full path and the dependencies its routers add)."""
    found: dict[tuple[str, str], APIRoute] = {}
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            route = cast(APIRoute, context)
            if route.include_in_schema:
                for method in route.methods:
                    found.setdefault((route.path_format, method.lower()), route)
    return found


def build(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document with every error response, header and media type."""
    schema = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        description=app.description,
        routes=app.routes,
    )
    routes = _routes(app)
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            route = routes.get((path, method))
            if route is not None:
                _document(operation, route, method.upper())
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    components["headers"] = HEADERS
    _document_security(schema, routes)
    return schema


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods of the resource `path` names: the path template of the first route that
    matches it (routing order, as the document lists it) and every method served there."""
    contexts = [
        cast(APIRoute, c)
        for c in iter_route_contexts(app.routes)
        if isinstance(c.original_route, APIRoute)
    ]
    template = next((c.path_format for c in contexts if c.path_regex.match(path)), None)
    methods = {m for c in contexts if c.path_format == template for m in c.methods}
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


async def _method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's 405 names only the methods of the first route that matched the path;
    FastAPI makes one route per method, so `Allow` listed one of them. RFC 9110 (and the
    document) want all of them."""
    methods = allowed_methods(request.app, request.scope["path"])
    message = f"{request.method} is not allowed here; allowed: {', '.join(methods)}"
    return JSONResponse(
        error_body("method_not_allowed", message),
        status_code=405,
        headers={"Allow": ", ".join(methods)},
    )


DOCUMENT_URL = "/api/openapi.json"


def install(app: FastAPI) -> None:
    """Serve `build(app)` (once, cached) at `DOCUMENT_URL`, and answer 405 with the
    `Allow` header the document implies.

    The app is created with `openapi_url=None` and the document is served by a
    module-level endpoint reading `request.app`: FastAPI keeps a process-wide cache keyed
    by endpoint callables, so an endpoint that closes over the app (as FastAPI's own
    `openapi` route does) keeps that app, and its runtime, alive for the whole process."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_api_route(DOCUMENT_URL, _serve_document, include_in_schema=False)
    app.add_exception_handler(405, _method_not_allowed)


def _serve_document(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())
