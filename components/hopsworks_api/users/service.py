"""Accounts, sessions (access and refresh tokens), API keys and the account lifecycle.

Nothing a deleted account held may act for another: tokens name a random `subject` that is
never issued twice (not the numeric id) plus the account's `token_version`, API keys and
refresh tokens go with the row (FK cascade), certificates are revoked, and ids themselves
are never reused (AUTOINCREMENT on SQLite, InnoDB's persistent counter on MariaDB).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import bindparam, func, select, update
from sqlalchemy import delete as sql_delete
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from hopsworks_api import authz, security
from hopsworks_api.clock import naive_utc
from hopsworks_api.db.busy import busy_on_lock_conflict
from hopsworks_api.db.driver_reads import DriverSelect, EntityColumns, read_cursor
from hopsworks_api.db.unique import commit_unique
from hopsworks_api.errors import Conflict, Forbidden, NotFound, Unauthorized, Unavailable
from hopsworks_api.identity import Role
from hopsworks_api.members.models import Membership
from hopsworks_api.pki import service as pki_service
from hopsworks_api.projects import service as project_service
from hopsworks_api.projects.models import Project
from hopsworks_api.provisioning.apply import commit_change
from hopsworks_api.runtime import Runtime
from hopsworks_api.schemas import Page, PageParams
from hopsworks_api.users import throttle
from hopsworks_api.users.models import (
    ApiKey,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    Login,
    PasswordChange,
    RefreshToken,
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


def register(rt: Runtime, *, data: UserCreate) -> User:
    """Self-service registration under the `registration` policy: `open` makes an active
    account, `approval` one that waits for an admin, `closed` none (403)."""
    policy = rt.settings.registration
    if policy == "closed":
        raise Forbidden(
            "registration is closed: ask a platform administrator for an account",
            code="registration_closed",
        )
    return create(rt, data=data, active=policy == "open")


def create(rt: Runtime, *, data: UserCreate, is_admin: bool = False, active: bool = True) -> User:
    """Create an account; the platform's very first account is its administrator, and
    active whatever the registration policy (someone must be able to approve the rest)."""
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
            is_active=active or first,
        )
        session.add(user)
        commit_unique(session, f"an account for '{email}' already exists")
        return user


def list_users(rt: Runtime, *, status: str | None, page: PageParams) -> Page[User]:
    with rt.read_sessions() as session:
        query = select(User)
        if status is not None:
            query = query.where(User.is_active.is_(status == "active"))
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.scalars(query.order_by(User.id).limit(page.limit).offset(page.offset))
        return Page(items=list(rows), total=total, limit=page.limit, offset=page.offset)


def approve(rt: Runtime, *, email: str) -> User:
    """Activate an account registered under the `approval` policy (idempotent)."""
    with rt.sessions() as session:
        user = get_by_email(session, email)
        if user is None:
            raise NotFound(f"no account with email '{email}'")
        user.is_active = True
        session.commit()
        return user


# -- sessions ---------------------------------------------------------------------------------
def _new_session(session: Session, rt: Runtime, user: User, *, family: str | None = None) -> Token:
    """An access token and a refresh token for `user` at its current token version; the
    caller commits. Expired refresh rows of the account are dropped on the way."""
    now = rt.clock.now()
    refresh, refresh_hash = security.new_refresh_token()
    ttl = rt.settings.refresh_token_ttl_seconds
    session.execute(
        sql_delete(RefreshToken).where(
            RefreshToken.user_id == user.id, RefreshToken.expires_at <= naive_utc(now)
        )
    )
    session.add(
        RefreshToken(
            user_id=user.id,
            family=family or uuid.uuid4().hex,
            token_hash=refresh_hash,
            token_version=user.token_version,
            expires_at=naive_utc(now + timedelta(seconds=ttl)),
            created_at=naive_utc(now),
        )
    )
    return Token(
        access_token=rt.tokens.issue(subject=user.subject, version=user.token_version, now=now),
        expires_in=rt.tokens.ttl_seconds,
        refresh_token=refresh,
        refresh_expires_in=ttl,
    )


def _end_sessions(session: Session, user: User) -> None:
    """Every access and refresh token of the account stops working (the version in each
    of them no longer matches); the caller commits."""
    session.execute(
        update(User).where(User.id == user.id).values(token_version=User.token_version + 1)
    )
    session.execute(sql_delete(RefreshToken).where(RefreshToken.user_id == user.id))
    session.refresh(user)


def _check_password(rt: Runtime, *, email: str, password: str, client: str) -> User:
    """The slow password check, throttled per account and client address, run after the
    read transaction has ended. Unknown emails and wrong passwords look the same."""
    keys = throttle.keys_for(email=email, client=client)
    throttle.begin_attempt(rt, keys=keys, email=email, client=client)
    with rt.read_sessions() as session:
        user = get_by_email(session, email)
    if user is None:
        rt.passwords.burn(password)
        raise Unauthorized("wrong email or password", code="invalid_credentials")
    if not rt.passwords.verify(user.password_hash, password):
        raise Unauthorized("wrong email or password", code="invalid_credentials")
    throttle.succeeded(rt, keys=keys)
    return user


def login(rt: Runtime, *, data: Login, client: str) -> Token:
    user = _check_password(rt, email=data.email, password=data.password, client=client)
    if not user.is_active:
        raise Forbidden(
            "this account is waiting for a platform administrator's approval",
            code="account_pending",
        )
    with rt.sessions() as session:
        user = session.get(User, user.id)
        if user is None:  # deleted while its password was being checked
            raise Unauthorized("wrong email or password", code="invalid_credentials")
        token = _new_session(session, rt, user)
        session.commit()
        return token


def refresh(rt: Runtime, *, refresh_token: str) -> Token:
    """Rotate: the presented token is used up and a new pair issued in the same family.
    A token presented a second time was copied; its whole family is revoked."""
    digest = security.hash_refresh_token(refresh_token)
    now = naive_utc(rt.clock.now())
    invalid = Unauthorized("invalid or expired refresh token", code="invalid_refresh_token")
    with rt.sessions() as session:
        row = session.scalar(select(RefreshToken).where(RefreshToken.token_hash == digest))
        if row is None or row.revoked_at is not None or row.expires_at <= now:
            raise invalid
        user = session.get(User, row.user_id)
        if user is None or not user.is_active or row.token_version != user.token_version:
            raise invalid
        used = session.execute(
            update(RefreshToken)
            .where(RefreshToken.id == row.id, RefreshToken.used_at.is_(None))
            .values(used_at=now)
        )
        if used.rowcount != 1:  # already rotated: someone else holds a copy
            session.execute(
                update(RefreshToken)
                .where(RefreshToken.family == row.family, RefreshToken.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            session.commit()
            raise Unauthorized(
                "refresh token already used; every session descended from it is revoked",
                code="refresh_token_reused",
            )
        token = _new_session(session, rt, user, family=row.family)
        session.commit()
        return token


def logout(rt: Runtime, *, user: User) -> None:
    """End every token of the account: the access token in hand, any other access token,
    and every refresh token, the one a client may present included."""
    with rt.sessions() as session:
        current = session.get(User, user.id)
        if current is not None:
            _end_sessions(session, current)
        session.commit()


def change_password(rt: Runtime, *, user: User, data: PasswordChange, client: str) -> Token:
    """Needs the current password (throttled like a login: a stolen access token must not
    become a way to guess it). Every other token of the account ends; the caller gets a
    fresh pair so it stays signed in."""
    try:
        _check_password(rt, email=user.email, password=data.current_password, client=client)
    except Unauthorized as exc:
        raise Forbidden("the current password is wrong", code="wrong_password") from exc
    new_hash = rt.passwords.hash(data.new_password)
    with rt.sessions() as session:
        current = session.get(User, user.id)
        if current is None:
            raise Unauthorized("the token's account no longer exists", code="invalid_token")
        current.password_hash = new_hash
        _end_sessions(session, current)
        token = _new_session(session, rt, current)
        session.commit()
        return token


# Asked on every authenticated request: built once and run on the driver's cursor
# (db/driver_reads.py), the key and its account in one round trip.
_USER = EntityColumns(User, prefix="user_")
_USER_BY_SUBJECT = DriverSelect(select(*_USER.columns).where(User.subject == bindparam("subject")))
_API_KEY_USER = DriverSelect(
    select(ApiKey.secret_hash, ApiKey.agent_hosts, *_USER.columns)
    .join(User, User.id == ApiKey.user_id)
    .where(ApiKey.prefix == bindparam("prefix"))
)


def from_token(rt: Runtime, *, token: str) -> User:
    claims = rt.tokens.claims(token, now=rt.clock.now())
    with read_cursor(rt.engine) as reads:
        row = reads.first(_USER_BY_SUBJECT, subject=claims.subject)
    user = None if row is None else _USER.instance(row)
    if user is None or not user.is_active:
        raise Unauthorized("the token's account no longer exists", code="invalid_token")
    if claims.version != user.token_version:
        raise Unauthorized(
            "this token was ended by a logout or password change", code="token_revoked"
        )
    return user


def from_api_key(rt: Runtime, *, key: str) -> tuple[User, list[str] | None]:
    """The key's user, and for agent keys the host patterns it is limited to."""
    prefix, secret = security.split_api_key(key)
    with read_cursor(rt.engine) as reads:
        row = reads.first(_API_KEY_USER, prefix=prefix)
    if row is None or not security.api_secret_matches(row.secret_hash, secret):
        raise Unauthorized("invalid API key", code="invalid_api_key")
    user = _USER.instance(row)
    if not user.is_active:
        raise Unauthorized("invalid API key", code="invalid_api_key")
    # `is not None`, not truthiness: an (old) agent key stored with no host is confined to
    # nothing, never unrestricted.
    return user, row.agent_hosts.split(",") if row.agent_hosts is not None else None


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


DELETE_ATTEMPTS = 3


def delete(rt: Runtime, *, email: str) -> None:
    """Remove an account: its memberships, API keys and refresh tokens go (FK cascades),
    every certificate it holds is revoked, and its tokens name a subject no other account
    will have. Refused while it is the only Data Owner of a project, or the last active
    platform admin (nobody could approve accounts or administer projects any more).

    Its projects are locked shared first, in id order, as every writer of a project's rows
    does (projects.service.lock), then its own row: a project being deleted is either gone
    by then or waits until the member's grants are removed here. A membership committed
    between the look-up and the locks (a project the transaction did not lock) means
    starting again rather than locking that project out of order."""
    for _attempt in range(DELETE_ATTEMPTS):
        with rt.read_sessions() as session:
            found = get_by_email(session, email)
            if found is None:
                raise NotFound(f"no account with email '{email}'")
            user_id = found.id
            project_ids = sorted(
                session.scalars(select(Membership.project_id).where(Membership.user_id == user_id))
            )
        with busy_on_lock_conflict("deleting the account"), rt.sessions() as session:
            # no plain read before these locking reads: MariaDB's snapshot starts later
            locked = {
                pid for pid in project_ids if project_service.lock(session, pid, deleting_too=True)
            }
            user = session.scalar(select(User).where(User.id == user_id).with_for_update())
            if user is None:
                raise NotFound(f"no account with email '{email}'")
            # shared, not exclusive: a project deletion may hold these rows shared, and
            # this must not wait for it while holding the account's row
            current = session.execute(
                select(Membership.project_id, Membership.role)
                .where(Membership.user_id == user_id)
                .with_for_update(read=True)
            ).all()
            if not {pid for pid, _role in current} <= locked:
                session.rollback()
                continue
            _delete_locked(rt, session, user, current)
            return
    raise Unavailable(
        f"the memberships of '{email}' kept changing; try again",
        code="busy",
        headers={"Retry-After": "1"},
    )


def _delete_locked(
    rt: Runtime, session: Session, user: User, memberships: Sequence[Row[tuple[int, str]]]
) -> None:
    """The deletion proper, its projects and account row locked; publishes the CRLs."""
    if user.is_admin and user.is_active:
        # Locking the admin rows serialises two admins deleting each other (MariaDB);
        # SQLite's BEGIN IMMEDIATE already has.
        admins = session.scalars(
            select(User.id).where(User.is_admin, User.is_active).with_for_update()
        ).all()
        if len(admins) <= 1:
            raise Conflict(
                f"'{user.email}' is the last platform administrator: make another "
                "account an administrator first",
                code="last_admin",
            )
    sole = _projects_only_owned_by(session, user.id)
    if sole:
        raise Conflict(
            f"'{user.email}' is the only data owner of {', '.join(sorted(sole))}: "
            "make someone else data owner or delete those projects first"
        )
    issuers = pki_service.revoke(session, reason="user deleted", user_id=user.id)
    session.delete(user)
    session.flush()
    # no compensation: the account is gone for the platform at the commit; a system that
    # cannot revoke its grants yet is converged by the journal worker when it answers
    commit_change(
        rt,
        session,
        reason="delete user",
        projects=[project_id for project_id, _role in memberships],
        undo=None,
    )
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
