"""Kafka: a project's topics, its members' ACLs on the project's prefix, and per-member ACLs
on topics other projects shared with it. What memberships and accepted shares imply is
`expected_acls`; repairs go through the backend's grant, share and delete operations."""

from __future__ import annotations

from hopsworks_api.backends.kafka.base import (
    AclEntry,
    concerns,
    expected_acls,
    member_acls,
    principal_project,
    split_physical,
)
from hopsworks_api.provisioning.systems.base import Pass

SYSTEM = "kafka"


def converge(run: Pass) -> None:
    kafka, world = run.backends.kafka, run.world
    gone = sorted(world.scope - set(world.want)) if world.scope is not None else []
    for name in gone:
        if kafka.describe_acls(name) or kafka.list_topics(name):
            run.found(
                SYSTEM,
                name,
                "topics or ACLs of a project that does not exist",
                lambda name=name: kafka.delete_project(name),
                destructive=True,
            )
    _topics(run)
    if world.scope is None:
        _acls(run, None)
    else:
        for name in sorted(world.scope & set(world.want)):
            _acls(run, name)


def _topics(run: Pass) -> None:
    kafka = run.backends.kafka
    for name, desired in sorted(run.world.want.items()):
        actual = {t.name: t for t in kafka.list_topics(name)}
        for topic, (partitions, replication) in sorted(desired.topics.items()):
            if topic not in actual:
                run.found(
                    SYSTEM,
                    name,
                    f"topic '{topic}' missing",
                    lambda t=topic, p=partitions, r=replication, n=name: kafka.create_topic(
                        n, t, p, r
                    ),
                )
        for topic in sorted(set(actual) - set(desired.topics)):
            run.found(
                SYSTEM,
                name,
                f"topic '{topic}' is not in the DB",
                lambda t=topic, n=name: kafka.delete_topic(n, t),
                destructive=True,
            )


def _acls(run: Pass, project: str | None) -> None:
    """Compare ACL bindings with what memberships and accepted topic shares imply."""
    kafka, world = run.backends.kafka, run.world
    expected = {
        entry
        for entry in expected_acls(
            {p: list(m) for p, m in world.members.items()}, world.topic_shares
        )
        if project is None or concerns(entry, project)
    }
    actual = set(kafka.describe_acls(project))
    missing, stray = expected - actual, actual - expected
    gone: set[str] = set()
    reported: set[tuple[str, ...]] = set()
    for entry in sorted(stray, key=_acl_key):
        holder = principal_project(entry.principal)
        if holder is None:
            continue
        username = entry.principal.rsplit("__", 1)[1]
        if holder not in world.members:
            if holder not in gone and (project is None or holder == project):
                gone.add(holder)
                run.found(
                    SYSTEM,
                    holder,
                    "ACLs of a project that does not exist",
                    lambda h=holder: kafka.delete_project(h),
                    destructive=True,
                )
        elif username not in world.members[holder]:
            if (holder, username) not in reported:
                reported.add((holder, username))
                run.found(
                    SYSTEM,
                    holder,
                    f"ACLs of non-member '{username}'",
                    lambda h=holder, u=username: kafka.revoke_member(h, u),
                )
        elif entry.resource_type == "topic" and entry.pattern_type == "literal":
            owner_topic = split_physical(entry.resource_name)
            if owner_topic and (holder, username, entry.resource_name) not in reported:
                reported.add((holder, username, entry.resource_name))
                owner, topic = owner_topic
                run.found(
                    SYSTEM,
                    owner,
                    f"'{entry.principal}' holds ACLs on topic '{topic}' without a share",
                    lambda o=owner, t=topic, h=holder, u=username: kafka.unshare_topic(
                        o, t, h, [u]
                    ),
                )
    shares = {(s.owner_project, s.topic, s.target_project): s for s in world.topic_shares}
    for entry in sorted(missing, key=_acl_key):
        holder = principal_project(entry.principal)
        if holder is None:
            continue
        username = entry.principal.rsplit("__", 1)[1]
        if entry in member_acls(holder, username):
            if (holder, username, "member") not in reported:
                reported.add((holder, username, "member"))
                run.found(
                    SYSTEM,
                    holder,
                    f"ACLs of member '{username}' missing",
                    lambda h=holder, u=username: kafka.grant_member(h, u),
                )
            continue
        owner_topic = split_physical(entry.resource_name)
        share = shares.get((*owner_topic, holder)) if owner_topic else None
        if share is not None and (holder, username, share.topic) not in reported:
            reported.add((holder, username, share.topic))
            run.found(
                SYSTEM,
                share.owner_project,
                f"share of topic '{share.topic}' with '{holder}': ACLs of '{username}' missing",
                lambda s=share, u=username: kafka.share_topic(
                    s.owner_project, s.topic, s.target_project, [u], s.writable
                ),
            )


def _acl_key(entry: AclEntry) -> tuple[str, ...]:
    return (entry.principal, entry.resource_type, entry.resource_name, entry.operation)
