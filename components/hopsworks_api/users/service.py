"""Accounts, logins and API keys."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hopsworks_api import authz, security
from hopsworks_api.authz import Role
from hopsworks_api.backends import steps as backend_steps
from hopsworks_api.db.unique import commit_unique
from hopsworks_api.errors import Conflict, NotFound, Unauthorized
from hopsworks_api.members.models import Membership
from hopsworks_api.pki import service as pki_service
from hopsworks_api.projects.models import Project
from hopsworks_api.runtime import Runtime
from hopsworks_api.saga import Saga
from hopsworks_api.sharing.incoming import incoming
from hopsworks_api.users.models import (
    ApiKey,
    ApiKeyCreate,
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


def from_api_key(session: Session, *, key: str) -> tuple[User, list[str] | None]:
    """The key's user, and for agent keys the host patterns it is limited to."""
    prefix, secret = security.split_api_key(key)
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if row is None or not security.api_secret_matches(row.secret_hash, secret):
        raise Unauthorized("invalid API key", code="invalid_api_key")
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("invalid API key", code="invalid_api_key")
    return user, row.agent_hosts.split(",") if row.agent_hosts else None


def create_api_key(rt: Runtime, *, user: User, data: ApiKeyCreate) -> ApiKeyCreated:
    """The key is returned once; only a hash of its secret part is stored. Agent keys
    (for deployment tooling) can do nothing but request host certificates."""
    if data.agent_hosts is not None:
        authz.require_platform_admin(user.is_admin)
    key, prefix, secret_hash = security.new_api_key()
    hosts = ",".join(data.agent_hosts) if data.agent_hosts is not None else None
    with rt.sessions() as session:
        row = ApiKey(
            user_id=user.id,
            name=data.name,
            prefix=prefix,
            secret_hash=secret_hash,
            agent_hosts=hosts,
        )
        session.add(row)
        commit_unique(session, f"an API key named '{data.name}' already exists")
        read = ApiKeyRead.model_validate(row)
        return ApiKeyCreated(**read.model_dump(), key=key)


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


def delete(rt: Runtime, *, email: str) -> None:
    """Remove an account: its memberships and API keys go (FK cascades), every certificate
    it holds is revoked. Refused while it is the only Data Owner of a project."""
    with rt.sessions() as session:
        user = get_by_email(session, email)
        if user is None:
            raise NotFound(f"no account with email '{email}'")
        sole = _projects_only_owned_by(session, user.id)
        if sole:
            raise Conflict(
                f"'{user.email}' is the only data owner of {', '.join(sorted(sole))}: "
                "make someone else data owner or delete those projects first"
            )
        issuers = pki_service.revoke(session, reason="user deleted", user_id=user.id)
        memberships = session.execute(
            select(Project.id, Project.name, Membership.role)
            .join(Membership, Membership.project_id == Project.id)
            .where(Membership.user_id == user.id)
        ).all()
        username = user.username
        session.delete(user)
        session.flush()
        with Saga("delete user") as saga:
            for project_id, project, role in memberships:
                backend_steps.remove_member(
                    saga,
                    rt,
                    project=project,
                    username=username,
                    role=Role(role),
                    incoming=incoming(session, project_id),
                )
            session.commit()
    pki_service.publish_crls(rt, issuers)


def _projects_only_owned_by(session: Session, user_id: int) -> list[str]:
    owner = Role.DATA_OWNER
    owned = select(Membership.project_id).where(
        Membership.user_id == user_id, Membership.role == owner
    )
    counts = session.execute(
        select(Project.name, func.count())
        .join(Membership, Membership.project_id == Project.id)
        .where(Project.id.in_(owned), Membership.role == owner)
        .group_by(Project.name)
    ).all()
    return [name for name, owners in counts if owners == 1]
