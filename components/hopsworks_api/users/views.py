"""Identity routes: register, login, sessions, password, API keys, accounts."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response, status

from hopsworks_api.deps import AdminUser, CurrentUser, PageDep, RuntimeDep
from hopsworks_api.errors import Unauthorized
from hopsworks_api.paths import API
from hopsworks_api.runtime import Runtime
from hopsworks_api.schemas import Page, paginate
from hopsworks_api.users import service
from hopsworks_api.users import session as web_session
from hopsworks_api.users.models import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    Login,
    LogoutRequest,
    PasswordChange,
    RefreshRequest,
    RegistrationPolicy,
    SessionRead,
    Token,
    UserCreate,
    UserRead,
)

auth_router = APIRouter(prefix=API + "/auth", tags=["identity"])
users_router = APIRouter(prefix=API + "/users", tags=["identity"])

_THROTTLED: dict[int | str, dict[str, Any]] = {
    429: {
        "description": "Too many failed password checks for this account or from this "
        "address (`too_many_attempts`); `Retry-After` says when to try again",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    }
}


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@auth_router.get("/registration", name="user.registration_policy")
def registration_policy(rt: RuntimeDep) -> RegistrationPolicy:
    """Public: whether the sign-in page offers registration, and whether it needs approval."""
    return RegistrationPolicy(policy=rt.settings.registration)


@auth_router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    name="user.register",
    responses={403: {"description": "`registration_closed`: admins create accounts"}},
)
def register(body: UserCreate, request: Request, rt: RuntimeDep) -> UserRead:
    """Under the `approval` policy the account is `pending` until an admin approves it."""
    request.state.audit.actor = body.email.lower()
    return UserRead.model_validate(service.register(rt, data=body))


@auth_router.post(
    "/login",
    name="user.login",
    responses={
        **_THROTTLED,
        403: {"description": "`account_pending`: the password is right, approval missing"},
    },
)
def login(body: Login, request: Request, rt: RuntimeDep) -> Token:
    request.state.audit.actor = body.email.lower()
    return service.login(rt, data=body, client=_client(request))


@auth_router.post(
    "/refresh",
    name="user.refresh",
    responses={
        401: {
            "description": "`invalid_refresh_token` (unknown, expired, or ended by a "
            "logout or password change) or `refresh_token_reused` (the whole family is "
            "revoked)"
        }
    },
)
def refresh(body: RefreshRequest, rt: RuntimeDep) -> Token:
    """Trade a refresh token for a new pair; the presented one is used up. Presenting a
    used one again revokes every token descended from the same login."""
    return service.refresh(rt, refresh_token=body.refresh_token)


@auth_router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, name="user.logout")
def logout(user: CurrentUser, rt: RuntimeDep, body: LogoutRequest | None = None) -> None:
    """Ends every access and refresh token of the account. The body's refresh token is
    accepted for clients that send it (RFC 7009 style); it ends with all the others."""
    service.logout(rt, user=user)


@auth_router.post(
    "/password",
    name="user.password",
    responses={**_THROTTLED, 403: {"description": "`wrong_password`"}},
)
def change_password(
    body: PasswordChange, request: Request, user: CurrentUser, rt: RuntimeDep
) -> Token:
    """Every other token of the account ends; the answer is a fresh pair for the caller."""
    return service.change_password(rt, user=user, data=body, client=_client(request))


_CSRF: dict[int | str, dict[str, Any]] = {
    403: {
        "description": "`csrf_refused`: the browser says the request comes from a page of "
        "another origin (`Origin`, `Sec-Fetch-Site`)"
    }
}


def _session_read(rt: Runtime, token: Token) -> SessionRead:
    user = service.from_token(rt, token=token.access_token)
    return SessionRead(
        user=UserRead.model_validate(user),
        expires_in=token.expires_in,
        refresh_expires_in=token.refresh_expires_in,
    )


@auth_router.post(
    "/session",
    name="session.create",
    responses={
        **_THROTTLED,
        401: {"description": "`invalid_credentials`: wrong email or password"},
        403: {
            "description": "`account_pending`, or `csrf_refused`: sent by a page of another origin"
        },
    },
)
def create_session(
    body: Login, request: Request, response: Response, rt: RuntimeDep
) -> SessionRead:
    """Sign a browser in: a login (same checks and back-off as `/api/auth/login`) whose
    tokens go into HttpOnly, SameSite=Strict cookies instead of the body. A page of
    another origin may not sign the browser in to an account of its choosing."""
    request.state.audit.actor = body.email.lower()
    web_session.require_same_origin(request, required=False)
    token = service.login(rt, data=body, client=_client(request))
    web_session.set_session(response, request, token)
    return _session_read(rt, token)


@auth_router.post(
    "/session/refresh",
    name="session.refresh",
    responses={
        **_CSRF,
        401: {"description": "`invalid_refresh_token` or `refresh_token_reused`"},
    },
)
def refresh_session(request: Request, response: Response, rt: RuntimeDep) -> SessionRead:
    """Renew the session from its refresh cookie (rotated as `/api/auth/refresh` does)."""
    web_session.require_same_origin(request)
    presented = web_session.refresh_token(request)
    if presented is None:
        raise Unauthorized("no session to renew", code="invalid_refresh_token")
    token = service.refresh(rt, refresh_token=presented)
    web_session.set_session(response, request, token)
    read = _session_read(rt, token)
    request.state.audit.actor = read.user.email
    return read


def _session_user(rt: Runtime, request: Request) -> UserRead | None:
    """The account the cookies still stand for, if any: the access cookie's, else the
    refresh cookie's (renewed on the way, since only a rotation proves it is valid)."""
    access = web_session.access_token(request)
    presented = web_session.refresh_token(request)
    try:
        if access is not None:
            return UserRead.model_validate(service.from_token(rt, token=access))
    except Unauthorized:
        pass
    try:
        if presented is not None:
            return _session_read(rt, service.refresh(rt, refresh_token=presented)).user
    except Unauthorized:
        pass
    return None


@auth_router.delete(
    "/session", status_code=status.HTTP_204_NO_CONTENT, name="session.delete", responses=_CSRF
)
def delete_session(request: Request, rt: RuntimeDep) -> Response:
    """Sign the browser out: the cookies are cleared and, as with `/api/auth/logout`,
    every token of the account ends. Without a (valid) session it only clears them."""
    if web_session.access_token(request) or web_session.refresh_token(request):
        web_session.require_same_origin(request)
    user = _session_user(rt, request)
    if user is not None:
        request.state.audit.actor = user.email
        with rt.read_sessions() as session:
            account = service.get(session, user.id)
        if account is not None:
            service.logout(rt, user=account)
    reply = Response(status_code=status.HTTP_204_NO_CONTENT)
    web_session.clear_session(reply, request)
    return reply


@auth_router.post("/api-keys", status_code=status.HTTP_201_CREATED, name="apikey.create")
def create_api_key(body: ApiKeyCreate, user: CurrentUser, rt: RuntimeDep) -> ApiKeyCreated:
    return service.create_api_key(rt, user=user, data=body)


@auth_router.get("/api-keys", name="apikey.list")
def list_api_keys(user: CurrentUser, rt: RuntimeDep, page: PageDep) -> Page[ApiKeyRead]:
    return paginate(service.list_api_keys(rt, user=user), page)


@auth_router.delete(
    "/api-keys/{name}", status_code=status.HTTP_204_NO_CONTENT, name="apikey.delete"
)
def delete_api_key(name: str, user: CurrentUser, rt: RuntimeDep) -> None:
    service.delete_api_key(rt, user=user, name=name)


@users_router.get("", name="user.list")
def list_users(
    admin: AdminUser,
    rt: RuntimeDep,
    page: PageDep,
    account_status: Annotated[Literal["active", "pending"] | None, Query(alias="status")] = None,
) -> Page[UserRead]:
    """Platform admins only; `?status=pending` lists accounts waiting for approval."""
    users = service.list_users(rt, status=account_status, page=page)
    return Page(
        items=[UserRead.model_validate(u) for u in users.items],
        total=users.total,
        limit=users.limit,
        offset=users.offset,
    )


@users_router.get("/me", name="user.me")
def me(user: CurrentUser) -> UserRead:
    return UserRead.model_validate(user)


@users_router.post("/{email}/approve", name="user.approve")
def approve_user(email: str, admin: AdminUser, rt: RuntimeDep) -> UserRead:
    """Platform admins only: a pending account may sign in from now on."""
    return UserRead.model_validate(service.approve(rt, email=email))


@users_router.delete(
    "/{email}",
    status_code=status.HTTP_204_NO_CONTENT,
    name="user.delete",
    responses={409: {"description": "the only data owner of a project, or the last admin"}},
)
def delete_user(email: str, admin: AdminUser, rt: RuntimeDep) -> None:
    """Platform admins only; the account's certificates are revoked."""
    service.delete(rt, email=email)
