"""Identity routes: register, login, API keys, me."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from hopsworks_api.deps import AdminUser, CurrentUser, RuntimeDep
from hopsworks_api.users import service
from hopsworks_api.users.models import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    Login,
    Token,
    UserCreate,
    UserRead,
)

auth_router = APIRouter(prefix="/auth", tags=["identity"])
users_router = APIRouter(prefix="/users", tags=["identity"])


@auth_router.post("/register", status_code=status.HTTP_201_CREATED, name="user.register")
def register(body: UserCreate, request: Request, rt: RuntimeDep) -> UserRead:
    request.state.audit.actor = body.email.lower()
    return UserRead.model_validate(service.create(rt, data=body))


@auth_router.post("/login", name="user.login")
def login(body: Login, request: Request, rt: RuntimeDep) -> Token:
    request.state.audit.actor = body.email.lower()
    return service.login(rt, data=body)


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


@users_router.get("/me", name="user.me")
def me(user: CurrentUser) -> UserRead:
    return UserRead.model_validate(user)


@users_router.delete("/{email}", status_code=status.HTTP_204_NO_CONTENT, name="user.delete")
def delete_user(email: str, admin: AdminUser, rt: RuntimeDep) -> None:
    """Platform admins only; the account's certificates are revoked."""
    service.delete(rt, email=email)
