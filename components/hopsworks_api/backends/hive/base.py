"""The Hive contract: one database per project, grants for its members, its size for quotas.

Naming (one rule for every implementation, so state can be compared across them):

- Project ``p`` owns the Hive database ``p`` whose location is ``<warehouse>/p.db`` (the
  layout Hive itself uses for managed databases, and the one Hopsworks uses), so the bytes
  of a project's tables live under one directory that a storage quota can cover.
- A member acts as the Hive user ``p__<username>`` (``identity.project_user``), the same name
  that is the CN of the member's project certificate, so a grant held in project A never
  applies in project B.
- Names are validated before any SQL is written: project names match
  ``^[a-z][a-z0-9_]{2,62}$`` (``identity.check_project_name``), usernames a strict pattern,
  locations a strict URI pattern. Identifiers are then quoted with backticks and
  locations written as single-quoted literals; since neither can contain a backtick, quote
  or backslash after validation, no caller string can change the statement.
- ``default``, ``sys`` and ``information_schema`` are Hive's own databases and are refused
  as project databases (``default`` would otherwise pass the project-name pattern).

Grant model (HiveServer2 SQL-standard authorization privileges SELECT/INSERT/UPDATE/DELETE,
one statement per privilege so that each can be retried on its own):

- data owner: SELECT, INSERT, UPDATE, DELETE on the project database;
- data scientist: SELECT, INSERT;
- a member of Q reading P's database shared with Q: SELECT; an editable share adds INSERT.

Every state-changing operation is idempotent and has an undo, which is what a saga step and
``hops reconcile`` need: create_database <-> drop_database, grant_member <-> revoke_member,
grant_share <-> revoke_share. ``drop_database`` deletes data and has no undo: run it last.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from hopsworks_api.errors import BadRequest
from hopsworks_api.identity import Role, check_project_name, project_user

SYSTEM = "hive"
"""The name users see in 503 answers (``BackendUnavailable(SYSTEM, ...)``)."""

RESERVED_DATABASES = frozenset({"default", "sys", "information_schema"})
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# scheme (optional) + absolute path of conservative characters: no quote, backslash,
# whitespace, backtick or control character can reach a SQL literal.
LOCATION_RE = re.compile(
    r"^(?:[a-z][a-z0-9+.-]*:(?://[A-Za-z0-9.:@_-]*)?)?/[A-Za-z0-9._~/%+=@:,-]*$"
)

PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")
"""Every privilege the platform manages; revoking a member revokes all of them."""

READ_ONLY = "read_only"
"""Not a project role: what every member keeps while the project's Hive database is over
its size quota (`quotas.accounting` narrows the grants, and widens them again later)."""

ROLE_PRIVILEGES: Mapping[str, tuple[str, ...]] = {
    Role.DATA_OWNER.value: ("SELECT", "INSERT", "UPDATE", "DELETE"),
    Role.DATA_SCIENTIST.value: ("SELECT", "INSERT"),
    READ_ONLY: ("SELECT",),
}
SHARE_READ_PRIVILEGES = ("SELECT",)
SHARE_WRITE_PRIVILEGES = ("SELECT", "INSERT")


@dataclass(frozen=True)
class HiveDatabase:
    """A project's database as the platform sees it.

    ``size_bytes`` is what the Hive quota is checked against; ``size_source`` says how it
    was measured ("filesystem": bytes under the location, exact; "table_stats": the sum of
    the tables' statistics, which lag behind writes until the next ANALYZE), so a report
    never presents an estimate as exact.
    """

    name: str
    location: str
    size_bytes: int
    tables: tuple[str, ...] = ()
    size_source: str = "filesystem"


@dataclass(frozen=True)
class GrantResult:
    """What a grant/revoke did: the statements it generated and whether the server ran them.

    ``applied`` is False when the server cannot take GRANT statements (Spark Thrift Server),
    so the caller and the audit log can say so instead of claiming access control exists.
    """

    statements: tuple[str, ...]
    applied: bool


class HiveBackend(Protocol):
    """Project databases in Hive. Every method is idempotent; none hangs: an unreachable
    or silent server raises ``BackendUnavailable("hive", ...)`` within the implementation's
    configured connect and query timeouts."""

    def create_database(self, project: str, location: str | None = None) -> HiveDatabase:
        """Create the database ``project`` at ``location`` (default
        ``<warehouse>/<project>.db``); a no-op if it exists there already.

        BadRequest for invalid or reserved names or locations; Conflict if the database
        exists at another location. Undo: `drop_database`."""
        ...

    def drop_database(self, project: str) -> bool:
        """Drop the database with all its tables (CASCADE) and its data; return whether it
        existed. No undo: run it as the last step of a project deletion."""
        ...

    def database_exists(self, project: str) -> bool: ...

    def describe(self, project: str) -> HiveDatabase:
        """Location, tables and size in bytes; NotFound if there is no such database."""
        ...

    def grant_member(self, project: str, username: str, role: str) -> GrantResult:
        """Give ``<project>__<username>`` exactly the privileges of ``role`` on the project
        database (privileges of another role are revoked, so this also changes a role).
        Undo: `revoke_member`."""
        ...

    def revoke_member(self, project: str, username: str) -> GrantResult:
        """Revoke every managed privilege of ``<project>__<username>`` on the database."""
        ...

    def grant_share(
        self, owner_project: str, target_project: str, usernames: Sequence[str], writable: bool
    ) -> GrantResult:
        """Give those members of ``target_project`` SELECT (plus INSERT when ``writable``;
        INSERT is revoked when not) on the owner's database. Undo: `revoke_share`."""
        ...

    def revoke_share(
        self, owner_project: str, target_project: str, usernames: Sequence[str]
    ) -> GrantResult:
        """Revoke every managed privilege of those target members on the owner's database."""
        ...

    def list_grants(self, project: str) -> dict[str, tuple[str, ...]] | None:
        """Managed privileges on the project database by principal, or None when the server
        cannot report grants (then drift in grants cannot be detected, only re-applied)."""
        ...

    def list_project_databases(self) -> list[str]:
        """Names of the databases that are project databases (valid, not reserved), sorted;
        compare with the DB's projects to find drift."""
        ...


# --- names ---------------------------------------------------------------------------------


def validate_project(project: str) -> str:
    """A project name that is safe as a Hive identifier, or BadRequest."""
    if not isinstance(project, str):
        raise BadRequest("project name must be a string", code="bad_project_name")
    try:
        check_project_name(project)
    except ValueError as exc:
        raise BadRequest(str(exc), code="bad_project_name") from exc
    if project in RESERVED_DATABASES:
        raise BadRequest(
            f"'{project}' is a Hive system database and cannot be a project database",
            code="bad_project_name",
        )
    return project


def is_project_database(name: str) -> bool:
    """Whether a database found in Hive follows the project naming (for reconciliation)."""
    try:
        validate_project(name)
    except BadRequest:
        return False
    return True


def validate_username(username: str) -> str:
    """Usernames end the principal ``<project>__<user>``; forbidding ``__`` (and a leading
    ``_``) in them keeps the last ``__`` the separator, so a principal's project is
    unambiguous. Same rule as the Kafka backend's principals."""
    if not isinstance(username, str) or not USERNAME_RE.fullmatch(username) or "__" in username:
        raise BadRequest(
            "usernames are 1-64 letters, digits, '_', '.' or '-', start with a letter or "
            "digit and contain no '__'",
            code="bad_username",
        )
    return username


def validate_usernames(usernames: Sequence[str]) -> tuple[str, ...]:
    if isinstance(usernames, str):
        raise BadRequest("usernames must be a list of usernames", code="bad_username")
    return tuple(validate_username(u) for u in usernames)


def principal(project: str, username: str) -> str:
    """The Hive user a member acts as: ``<project>__<username>``."""
    return project_user(validate_project(project), validate_username(username))


def role_privileges(role: str) -> tuple[str, ...]:
    try:
        return ROLE_PRIVILEGES[str(role)]
    except KeyError:
        raise BadRequest(
            f"unknown role '{role}'; expected one of {sorted(ROLE_PRIVILEGES)}", code="bad_role"
        ) from None


def quote_identifier(name: str) -> str:
    """Backtick-quote an identifier that was validated already. The check is repeated here
    so that an unvalidated string can never be quoted into SQL by mistake."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise BadRequest(f"not a safe Hive identifier: {name!r}")
    return f"`{name}`"


def normalize_location(location: str) -> str:
    """One spelling per place: no trailing '/', ``file:///x`` and ``file://x``-free local
    paths written ``file:/x`` (what Hive and Spark report back)."""
    value = location.rstrip("/") or "/"
    if value.startswith("file:///"):
        value = "file:" + value[len("file://") :]
    elif value.startswith("/"):
        value = "file:" + value
    return value


def location_path(location: str) -> str:
    """The path part of a location URI (scheme and authority dropped)."""
    value = normalize_location(location)
    match = re.match(r"^[a-z][a-z0-9+.-]*:(?://[^/]*)?(/.*)$", value)
    return match.group(1) if match else value


def same_location(a: str, b: str) -> bool:
    """Whether two locations name the same directory. A location without an authority is
    compared by path, since the server qualifies it with its default file system."""
    na, nb = normalize_location(a), normalize_location(b)
    if na == nb:
        return True
    if _has_authority(na) and _has_authority(nb):
        return False
    return location_path(na) == location_path(nb)


def _has_authority(location: str) -> bool:
    return re.match(r"^[a-z][a-z0-9+.-]*://", location) is not None


def validate_location(project: str, location: str) -> str:
    """A location that is safe inside a SQL string literal and follows the naming rule
    (its last component is ``<project>.db``), normalized; BadRequest otherwise."""
    validate_project(project)
    if not isinstance(location, str) or not LOCATION_RE.fullmatch(location):
        raise BadRequest(
            "a database location is an absolute path or URI of letters, digits and '._~/%+=@:,-'",
            code="bad_location",
        )
    value = normalize_location(location)
    parts = location_path(value).split("/")
    if any(part in (".", "..") for part in parts):
        raise BadRequest("a database location may not contain '.' or '..'", code="bad_location")
    if parts[-1] != f"{project}.db":
        raise BadRequest(
            f"the location of project '{project}' must end with '/{project}.db'",
            code="bad_location",
        )
    return value


def default_location(warehouse: str, project: str) -> str:
    return normalize_location(f"{warehouse.rstrip('/')}/{validate_project(project)}.db")


# --- SQL ----------------------------------------------------------------------------------


def sql_create_database(project: str, location: str) -> str:
    return (
        f"CREATE DATABASE IF NOT EXISTS {quote_identifier(validate_project(project))} "
        f"LOCATION '{validate_location(project, location)}'"
    )


def sql_drop_database(project: str) -> str:
    return f"DROP DATABASE IF EXISTS {quote_identifier(validate_project(project))} CASCADE"


def sql_grant(project: str, privilege: str, who: str) -> str:
    """``GRANT <privilege> ON DATABASE `<project>` TO USER `<who>```."""
    if privilege not in PRIVILEGES:
        raise BadRequest(f"unknown privilege {privilege!r}")
    db = quote_identifier(validate_project(project))
    return f"GRANT {privilege} ON DATABASE {db} TO USER {quote_identifier(who)}"


def sql_revoke(project: str, privilege: str, who: str) -> str:
    """``REVOKE <privilege> ON DATABASE `<project>` FROM USER `<who>```."""
    if privilege not in PRIVILEGES:
        raise BadRequest(f"unknown privilege {privilege!r}")
    db = quote_identifier(validate_project(project))
    return f"REVOKE {privilege} ON DATABASE {db} FROM USER {quote_identifier(who)}"


@dataclass(frozen=True)
class GrantPlan:
    """The statements that bring one principal to exactly ``keep`` on one database: first the
    revokes of every other managed privilege, then the grants, so a downgrade removes rights
    before anything else happens. Each statement is harmless to repeat (see the
    implementations' handling of "already granted" / "not granted")."""

    project: str
    principal: str
    keep: tuple[str, ...]
    revokes: tuple[str, ...] = field(default=())
    grants: tuple[str, ...] = field(default=())

    @property
    def statements(self) -> tuple[str, ...]:
        return self.revokes + self.grants


def plan_privileges(project: str, who: str, keep: Iterable[str]) -> GrantPlan:
    """Statements that leave ``who`` with exactly ``keep`` of the managed privileges."""
    wanted = tuple(p for p in PRIVILEGES if p in set(keep))
    revokes = tuple(sql_revoke(project, p, who) for p in PRIVILEGES if p not in wanted)
    grants = tuple(sql_grant(project, p, who) for p in wanted)
    return GrantPlan(project, who, wanted, revokes, grants)


def member_plan(project: str, username: str, role: str) -> GrantPlan:
    return plan_privileges(project, principal(project, username), role_privileges(role))


def revoke_plan(project: str, who: str) -> GrantPlan:
    return plan_privileges(project, who, ())


def share_plans(
    owner_project: str, target_project: str, usernames: Sequence[str], writable: bool | None
) -> list[GrantPlan]:
    """One plan per target member; ``writable=None`` means revoke the share."""
    validate_project(owner_project)
    validate_project(target_project)
    if owner_project == target_project:
        raise BadRequest("a database cannot be shared with the project that owns it")
    if writable is None:
        keep: tuple[str, ...] = ()
    else:
        keep = SHARE_WRITE_PRIVILEGES if writable else SHARE_READ_PRIVILEGES
    return [
        plan_privileges(owner_project, principal(target_project, u), keep)
        for u in validate_usernames(usernames)
    ]


class PlannedGrants:
    """The grant operations of `HiveBackend`, phrased as plans; each implementation only
    says how a list of plans is applied (`_apply`), so both compute the same statements."""

    def _apply(self, plans: Sequence[GrantPlan], *, must_exist: bool) -> GrantResult:
        raise NotImplementedError

    def grant_member(self, project: str, username: str, role: str) -> GrantResult:
        return self._apply([member_plan(project, username, role)], must_exist=True)

    def revoke_member(self, project: str, username: str) -> GrantResult:
        return self._apply([revoke_plan(project, principal(project, username))], must_exist=False)

    def grant_share(
        self, owner_project: str, target_project: str, usernames: Sequence[str], writable: bool
    ) -> GrantResult:
        plans = share_plans(owner_project, target_project, usernames, bool(writable))
        return self._apply(plans, must_exist=True)

    def revoke_share(
        self, owner_project: str, target_project: str, usernames: Sequence[str]
    ) -> GrantResult:
        plans = share_plans(owner_project, target_project, usernames, None)
        return self._apply(plans, must_exist=False)
