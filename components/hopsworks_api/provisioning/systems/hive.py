"""Hive: one database per project; members hold their role's privileges (read-only while
the project is over its Hive quota); a share grants the target's members on the owner's
database."""

from __future__ import annotations

from collections.abc import Callable

from hopsworks_api.backends.hive.base import (
    READ_ONLY,
    ROLE_PRIVILEGES,
    SHARE_READ_PRIVILEGES,
    SHARE_WRITE_PRIVILEGES,
)
from hopsworks_api.identity import project_user
from hopsworks_api.provisioning.desired import ProjectState
from hopsworks_api.provisioning.systems.base import Pass

SYSTEM = "hive"


def converge(run: Pass) -> None:
    hive, world = run.backends.hive, run.world
    if world.scope is None:
        existing = set(hive.list_project_databases())
    else:  # a change: ask about its projects only, not list every database
        existing = {name for name in world.scope if hive.database_exists(name)}
    for name in world.names(existing):
        desired = world.want.get(name)
        if desired is None:
            if name in existing:
                run.found(
                    SYSTEM,
                    name,
                    "database of a project that does not exist",
                    lambda name=name: hive.drop_database(name),
                    destructive=True,
                )
        elif name not in existing:

            def recreate(name: str = name, desired: ProjectState = desired) -> None:
                hive.create_database(name)
                for username, role in desired.members.items():
                    granted = READ_ONLY if desired.hive_read_only else role.value
                    hive.grant_member(name, username, granted)
                for target, writable in desired.hive_shares.items():
                    users = sorted(world.members.get(target, {}))
                    hive.grant_share(name, target, users, writable)

            run.found(SYSTEM, name, "database missing", recreate)
        else:
            _grants(run, desired)


def _grants(run: Pass, desired: ProjectState) -> None:
    """Compare privileges by principal; a server that cannot list grants (Spark Thrift
    Server) gives None, and then there is nothing to compare."""
    hive, name, world = run.backends.hive, desired.name, run.world
    actual = hive.list_grants(name)
    if actual is None:
        return
    expected: dict[str, tuple[Callable[[], object], tuple[str, ...]]] = {}
    for username, role in desired.members.items():
        granted = READ_ONLY if desired.hive_read_only else role.value
        expected[project_user(name, username)] = (
            lambda u=username, g=granted: hive.grant_member(name, u, g),
            ROLE_PRIVILEGES[granted],
        )
    for target, writable in desired.hive_shares.items():
        privileges = SHARE_WRITE_PRIVILEGES if writable else SHARE_READ_PRIVILEGES
        for username in world.members.get(target, {}):
            expected[project_user(target, username)] = (
                lambda t=target, u=username, w=writable: hive.grant_share(name, t, [u], w),
                privileges,
            )
    for who, (repair, privileges) in sorted(expected.items()):
        if set(actual.get(who, ())) != set(privileges):
            run.found(SYSTEM, name, f"privileges of '{who}' missing or wrong", repair)
    for who in sorted(set(actual) - set(expected)):
        holder, _, username = who.rpartition("__")  # the last `__` separates
        if holder == name:
            revoke = lambda u=username: hive.revoke_member(name, u)  # noqa: E731
        else:
            revoke = lambda h=holder, u=username: hive.revoke_share(name, h, [u])  # noqa: E731
        run.found(SYSTEM, name, f"privileges of '{who}' granted by nothing", revoke)
