"""Identity routes: register, login, API keys, me."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from hopsworks_api.deps import CurrentUser, RuntimeDep
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


@auth_router.post(
    "/register", status_code=status.HTTP_201_CREATED, response_model=UserRead, name="user.register"
)
def register(body: UserCreate, request: Request, rt: RuntimeDep) -> UserRead:
    request.state.audit.actor = body.email.lower()
    with rt.sessions() as session:
        return UserRead.model_validate(service.create(session, passwords=rt.passwords, data=body))


@auth_router.post("/login", response_model=Token, name="user.login")
def login(body: Login, request: Request, rt: RuntimeDep) -> Token:
    request.state.audit.actor = body.email.lower()
    user = service.authenticate(
        rt.read_sessions, passwords=rt.passwords, email=body.email, password=body.password
    )
    return Token(access_token=rt.tokens.issue(user.id), expires_in=rt.tokens.ttl_seconds)


@auth_router.post(
    "/api-keys",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    name="apikey.create",
)
def create_api_key(body: ApiKeyCreate, user: CurrentUser, rt: RuntimeDep) -> ApiKeyCreated:
    with rt.sessions() as session:
        row, key = service.create_api_key(session, user=user, name=body.name)
        return ApiKeyCreated(name=row.name, prefix=row.prefix, created_at=row.created_at, key=key)


@auth_router.get("/api-keys", response_model=list[ApiKeyRead], name="apikey.list")
def list_api_keys(user: CurrentUser, rt: RuntimeDep) -> list[ApiKeyRead]:
    with rt.read_sessions() as session:
        return [ApiKeyRead.model_validate(k) for k in service.list_api_keys(session, user=user)]


@auth_router.delete(
    "/api-keys/{name}", status_code=status.HTTP_204_NO_CONTENT, name="apikey.delete"
)
def delete_api_key(name: str, user: CurrentUser, rt: RuntimeDep) -> None:
    with rt.sessions() as session:
        service.delete_api_key(session, user=user, name=name)


@users_router.get("/me", response_model=UserRead, name="user.me")
def me(user: CurrentUser) -> UserRead:
    return UserRead.model_validate(user)
