"""Request dependencies: the runtime, the authenticated user, pagination.

Authentication happens here and only here; authorisation is `authz`'s job.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from hopsworks_api.errors import Forbidden, Unauthorized
from hopsworks_api.runtime import Runtime
from hopsworks_api.schemas import PageParams
from hopsworks_api.users import service as user_service
from hopsworks_api.users.models import User

_bearer = HTTPBearer(auto_error=False, description="JWT from /api/auth/login")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="hops_... API key")


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_current_user(
    request: Request,
    rt: RuntimeDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> User:
    """Accept `Authorization: Bearer <jwt>`, `Authorization: ApiKey <key>` or `X-API-Key`."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    with rt.read_sessions() as session:
        if scheme.lower() == "apikey" and value:
            user = user_service.from_api_key(session, key=value.strip())
        elif api_key:
            user = user_service.from_api_key(session, key=api_key)
        elif bearer is not None:
            user = user_service.from_token(session, tokens=rt.tokens, token=bearer.credentials)
        else:
            raise Unauthorized("authentication required: send a bearer token or an API key")
    request.state.audit.actor = user.email
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def get_admin(user: CurrentUser) -> User:
    if not user.is_admin:
        raise Forbidden("platform administrators only")
    return user


AdminUser = Annotated[User, Depends(get_admin)]


def get_page(
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(get_page)]
