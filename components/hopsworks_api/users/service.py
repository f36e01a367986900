"""Accounts, logins and API keys."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hopsworks_api import security
from hopsworks_api.db.unique import commit_unique
from hopsworks_api.errors import Conflict, NotFound, Unauthorized
from hopsworks_api.runtime import Runtime
from hopsworks_api.users.models import (
    ApiKey,
    ApiKeyCreated,
    ApiKeyRead,
    Login,
    Token,
    User,
    UserCreate,
)


def get_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email.lower()))


def get(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def _username_for(session: Session, email: str) -> str:
    """A short, unique, alphanumeric name: it becomes part of `<project>__<user>`."""
    base = re.sub(r"[^a-z0-9]", "", email.split("@", 1)[0].lower())[:20]
    if not base or not base[0].isalpha():
        base = f"u{base}"[:20]
    candidate, n = base, 1
    while session.scalar(select(User.id).where(User.username == candidate)) is not None:
        n += 1
        candidate = f"{base}{n}"
    return candidate


def create(rt: Runtime, *, data: UserCreate, is_admin: bool = False) -> User:
    """Create an account; the platform's very first account is its administrator."""
    email = data.email.lower()
    password_hash = rt.passwords.hash(data.password)  # slow on purpose: before any DB lock
    with rt.sessions() as session:
        if get_by_email(session, email) is not None:
            raise Conflict(f"an account for '{email}' already exists")
        first = session.scalar(select(func.count()).select_from(User)) == 0
        user = User(
            email=email,
            username=_username_for(session, email),
            password_hash=password_hash,
            first_name=data.first_name,
            last_name=data.last_name,
            is_admin=is_admin or first,
        )
        session.add(user)
        commit_unique(session, f"an account for '{email}' already exists")
        return user


def login(rt: Runtime, *, data: Login) -> Token:
    """The slow password check runs after the read transaction has ended."""
    with rt.read_sessions() as session:
        user = get_by_email(session, data.email)
    if user is None:
        rt.passwords.burn(data.password)
        raise Unauthorized("wrong email or password", code="invalid_credentials")
    if not rt.passwords.verify(user.password_hash, data.password) or not user.is_active:
        raise Unauthorized("wrong email or password", code="invalid_credentials")
    return Token(access_token=rt.tokens.issue(user.id), expires_in=rt.tokens.ttl_seconds)


def from_token(session: Session, *, tokens: security.TokenCodec, token: str) -> User:
    user = session.get(User, tokens.user_id(token))
    if user is None or not user.is_active:
        raise Unauthorized("the token's account no longer exists", code="invalid_token")
    return user


def from_api_key(session: Session, *, key: str) -> User:
    prefix, secret = security.split_api_key(key)
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if row is None or not security.api_secret_matches(row.secret_hash, secret):
        raise Unauthorized("invalid API key", code="invalid_api_key")
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("invalid API key", code="invalid_api_key")
    return user


def create_api_key(rt: Runtime, *, user: User, name: str) -> ApiKeyCreated:
    """The key is returned once; only a hash of its secret part is stored."""
    key, prefix, secret_hash = security.new_api_key()
    with rt.sessions() as session:
        row = ApiKey(user_id=user.id, name=name, prefix=prefix, secret_hash=secret_hash)
        session.add(row)
        commit_unique(session, f"an API key named '{name}' already exists")
        return ApiKeyCreated(name=row.name, prefix=row.prefix, created_at=row.created_at, key=key)


def list_api_keys(rt: Runtime, *, user: User) -> list[ApiKeyRead]:
    with rt.read_sessions() as session:
        rows = session.scalars(select(ApiKey).where(ApiKey.user_id == user.id))
        return [ApiKeyRead.model_validate(row) for row in rows]


def delete_api_key(rt: Runtime, *, user: User, name: str) -> None:
    with rt.sessions() as session:
        row = session.scalar(select(ApiKey).where(ApiKey.user_id == user.id, ApiKey.name == name))
        if row is None:
            raise NotFound(f"no API key named '{name}'")
        session.delete(row)
        session.commit()
