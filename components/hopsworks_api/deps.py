"""Request dependencies: the runtime, the authenticated principal, pagination.

Authentication happens here and only here, including the confinement that comes with it:
a project certificate is valid in its own project only, an agent key only for host
certificates. Authorisation inside a project is `authz`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request

from hopsworks_api import authz
from hopsworks_api.errors import Forbidden, NotFound, Unauthorized
from hopsworks_api.pki import service as pki_service
from hopsworks_api.reads import run_read
from hopsworks_api.runtime import Runtime
from hopsworks_api.schemas import PageParams
from hopsworks_api.users import service as user_service
from hopsworks_api.users import session as web_session
from hopsworks_api.users.models import User

MAX_OFFSET = 1_000_000_000  # far beyond any real page, well inside every DB's integers
AGENT_ROUTES = frozenset({"ca.sign_host", "ca.chain", "ca.crl"})
CERTIFICATE_GLOBAL_ROUTES = frozenset({"user.me", "ca.chain", "ca.crl"})


@dataclass(frozen=True)
class Principal:
    user: User
    agent_hosts: list[str] | None = None  # set for agent API keys
    certificate_project: str | None = None  # set for mTLS with a project certificate


async def get_runtime(request: Request) -> Runtime:
    # async: FastAPI runs a plain `def` dependency in the thread pool, a hop per request
    # that costs more than the attribute read (docs/performance.md)
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def client_certificate(request: Request) -> str | None:
    """The leaf of the verified client chain, from the ASGI TLS extension."""
    tls = request.scope.get("extensions", {}).get("tls") or {}
    chain = tls.get("client_cert_chain") or []
    return chain[0] if chain else None


def _credentials(request: Request) -> tuple[str | None, str | None]:
    """(API key, bearer token) from `Authorization: ApiKey|Bearer <value>` or `X-API-Key`."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    value = value.strip()
    scheme = scheme.lower()
    key = value if scheme == "apikey" and value else request.headers.get("x-api-key") or None
    bearer = value if scheme == "bearer" and value else None
    return key, bearer


def authenticate(request: Request, rt: Runtime) -> Principal:
    key, bearer = _credentials(request)
    if key:
        user, hosts = user_service.from_api_key(rt, key=key)
        return Principal(user, agent_hosts=hosts)
    if bearer is not None:
        return Principal(user_service.from_token(rt, token=bearer))
    cert = client_certificate(request)
    if cert is not None:
        user, project = pki_service.authenticate_client(rt, cert_pem=cert)
        return Principal(user, certificate_project=project)
    cookie = web_session.access_token(request)
    if cookie is not None:  # last: a browser's, sent whoever made it send the request
        web_session.guard_cookie_request(request)
        return Principal(user_service.from_token(rt, token=cookie))
    raise Unauthorized(
        "authentication required: a bearer token, an API key, a project certificate "
        "or a session cookie"
    )


def confine(request: Request, principal: Principal) -> None:
    route = getattr(request.scope.get("route"), "name", None)
    if principal.agent_hosts is not None and route not in AGENT_ROUTES:
        raise Forbidden("agent keys may only request host certificates")
    if principal.certificate_project is not None:
        project = request.path_params.get("project")
        if project is None:
            if route not in CERTIFICATE_GLOBAL_ROUTES:
                raise Forbidden("a project certificate is valid only inside its project")
        elif project != principal.certificate_project:
            raise NotFound(f"project '{project}' not found")


async def _principal(request: Request) -> Principal:
    rt: Runtime = request.app.state.runtime
    principal = await run_read(rt, authenticate, request, rt)
    request.state.audit.actor = principal.user.email
    confine(request, principal)
    return principal


async def get_principal(request: Request) -> Principal:
    """Accept `Authorization: Bearer <jwt>`, `Authorization: ApiKey <key>`, `X-API-Key`,
    (over `hops serve --tls`) a client certificate `CN=<project>__<user>`, or a browser's
    session cookie (`POST /api/auth/session`; same-origin checked, users/session.py).

    One dependency reading the headers itself, not one per scheme: FastAPI's work per
    dependency cost more than the checks (docs/performance.md); the OpenAPI document
    names the schemes (openapi.SECURITY_SCHEMES)."""
    return await _principal(request)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_current_user(request: Request) -> User:
    """The caller's account, authenticated as `get_principal` does: its own dependency,
    not one on top of `get_principal`, as a level of dependencies costs FastAPI more than
    the attribute read (the routes take one or the other, never both)."""
    return (await _principal(request)).user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_admin(user: CurrentUser) -> User:
    authz.require_platform_admin(user.is_admin)
    return user


AdminUser = Annotated[User, Depends(get_admin)]


async def get_page(
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(get_page)]
