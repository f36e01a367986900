"""Identity routes: register, login, sessions, password, API keys, accounts."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, status

from hopsworks_api.deps import AdminUser, CurrentUser, PageDep, RuntimeDep
from hopsworks_api.users import service
from hopsworks_api.users.models import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    Login,
    LogoutRequest,
    PasswordChange,
    RefreshRequest,
    Token,
    UserCreate,
    UserRead,
)

auth_router = APIRouter(prefix="/auth", tags=["identity"])
users_router = APIRouter(prefix="/users", tags=["identity"])

_THROTTLED: dict[int | str, dict[str, Any]] = {
    429: {
        "description": "Too many failed password checks for this account or from this "
        "address (`too_many_attempts`); `Retry-After` says when to try again",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    }
}


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


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


@auth_router.post("/api-keys", status_code=status.HTTP_201_CREATED, name="apikey.create")
def create_api_key(body: ApiKeyCreate, user: CurrentUser, rt: RuntimeDep) -> ApiKeyCreated:
    return service.create_api_key(rt, user=user, data=body)


@auth_router.get("/api-keys", name="apikey.list")
def list_api_keys(user: CurrentUser, rt: RuntimeDep) -> list[ApiKeyRead]:
    return service.list_api_keys(rt, user=user)


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
) -> list[UserRead]:
    """Platform admins only; `?status=pending` lists accounts waiting for approval."""
    users = service.list_users(rt, status=account_status, page=page)
    return [UserRead.model_validate(u) for u in users]


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
