"""The backend steps of project and member changes, each paired with its undo.

Services run these inside a `Saga` after their DB rows are flushed and before the commit:
if any step (or the commit) fails, the steps already done are undone in reverse, so no
system keeps a trace of a change the DB never recorded.
"""

from __future__ import annotations

from dataclasses import dataclass

from hopsworks_api.backends.kubernetes.base import KubeQuota
from hopsworks_api.identity import Role
from hopsworks_api.pki.keys import plain_key
from hopsworks_api.pki.models import Certificate
from hopsworks_api.runtime import Runtime
from hopsworks_api.saga import Saga


@dataclass(frozen=True)
class IncomingShares:
    """What other projects share with one project and it accepted, as the backends see it.

    Dataset shares are granted to the project's group (HDFS ACLs), so they do not change
    when members come and go; topic and Hive shares are granted per member principal, so a
    member's arrival and departure must grant and revoke them."""

    datasets: tuple[tuple[str, str, bool], ...] = ()  # (owner project, dataset, writable)
    topics: tuple[tuple[str, str, bool], ...] = ()  # (owner project, topic, writable)
    hive: tuple[tuple[str, bool], ...] = ()  # (owner project, writable)


NO_SHARES = IncomingShares()


def serving_quota(rt: Runtime, gpus: int | None) -> KubeQuota:
    settings = rt.settings
    return KubeQuota(
        cpu=settings.project_serving_cpu, memory=settings.project_serving_memory, gpus=gpus
    )


def certificate_pems(rt: Runtime, certificate: Certificate) -> tuple[str, str, str]:
    assert certificate.key_pem is not None
    key = rt.ca.decrypt(certificate.key_pem.encode())
    chain = rt.ca.chain_for(rt.ca.intermediate(certificate.issuer)).decode()
    return certificate.cert_pem, plain_key(key).decode(), chain


def create_project(
    saga: Saga,
    rt: Runtime,
    *,
    project: str,
    owner: str,
    certificate: Certificate,
    gpus: int | None,
) -> None:
    b = rt.backends
    saga.step(
        "hive",
        lambda: b.hive.create_database(project),
        lambda: b.hive.drop_database(project),
    )
    saga.step(
        "yarn",
        lambda: b.compute.create_project_queue(
            project, rt.settings.project_queue_capacity, rt.settings.project_queue_max_capacity
        ),
        lambda: b.compute.delete_project_queue(project),
    )
    saga.step(
        "kafka",
        lambda: b.kafka.grant_member(project, owner),
        lambda: b.kafka.delete_project(project),
    )
    saga.step(
        "kubernetes",
        lambda: b.kubernetes.ensure_project(project, serving_quota(rt, gpus)),
        lambda: b.kubernetes.delete_project(project),
    )
    add_member(
        saga,
        rt,
        project=project,
        username=owner,
        role=Role.DATA_OWNER,
        certificate=certificate,
        kafka=False,
    )


def add_member(
    saga: Saga,
    rt: Runtime,
    *,
    project: str,
    username: str,
    role: Role,
    certificate: Certificate,
    kafka: bool = True,
    incoming: IncomingShares = NO_SHARES,
) -> None:
    b = rt.backends
    saga.step(
        "hive",
        lambda: b.hive.grant_member(project, username, role.value),
        lambda: b.hive.revoke_member(project, username),
    )
    if kafka:
        saga.step(
            "kafka",
            lambda: b.kafka.grant_member(project, username),
            lambda: b.kafka.revoke_member(project, username),
        )
    saga.step(
        "kubernetes",
        lambda: b.kubernetes.grant_member(project, username, role.value),
        lambda: b.kubernetes.revoke_member(project, username),
    )
    cert, key, chain = certificate_pems(rt, certificate)
    saga.step(
        "kubernetes",
        lambda: b.kubernetes.store_member_certificate(project, username, cert, key, chain),
        lambda: b.kubernetes.delete_member_certificate(project, username),
    )
    for owner, topic, writable in incoming.topics:
        share_topic(
            saga,
            rt,
            owner=owner,
            topic=topic,
            target=project,
            usernames=[username],
            writable=writable,
        )
    for owner, writable in incoming.hive:
        share_hive(saga, rt, owner=owner, target=project, usernames=[username], writable=writable)


def change_role(
    saga: Saga, rt: Runtime, *, project: str, username: str, old: Role, new: Role
) -> None:
    b = rt.backends
    saga.step(
        "hive",
        lambda: b.hive.grant_member(project, username, new.value),
        lambda: b.hive.grant_member(project, username, old.value),
    )
    saga.step(
        "kubernetes",
        lambda: b.kubernetes.grant_member(project, username, new.value),
        lambda: b.kubernetes.grant_member(project, username, old.value),
    )


def remove_member(
    saga: Saga,
    rt: Runtime,
    *,
    project: str,
    username: str,
    role: Role,
    incoming: IncomingShares = NO_SHARES,
) -> None:
    """Undo re-grants access; the member's old certificate stays revoked (a new one is
    issued if they are added again)."""
    b = rt.backends
    saga.step(
        "hive",
        lambda: b.hive.revoke_member(project, username),
        lambda: b.hive.grant_member(project, username, role.value),
    )
    for owner, writable in incoming.hive:
        unshare_hive(saga, rt, owner=owner, target=project, usernames=[username], writable=writable)

    def regrant_kafka() -> None:
        b.kafka.grant_member(project, username)
        for owner, topic, writable in incoming.topics:
            b.kafka.share_topic(owner, topic, project, [username], writable)

    # revoke_member removes every ACL of the principal, topic shares into the project too
    saga.step("kafka", lambda: b.kafka.revoke_member(project, username), regrant_kafka)
    saga.step(
        "kubernetes",
        lambda: b.kubernetes.revoke_member(project, username),
        lambda: b.kubernetes.grant_member(project, username, role.value),
    )
    saga.step(
        "kubernetes",
        lambda: b.kubernetes.delete_member_certificate(project, username),
        lambda: None,
    )


def delete_project(
    saga: Saga,
    rt: Runtime,
    *,
    project: str,
    members: list[tuple[str, Role]],
    certificates: dict[str, Certificate],
    gpus: int | None,
    incoming: IncomingShares = NO_SHARES,
) -> None:
    """Undo brings back empty containers and the members' grants; data held by the system
    itself (messages in deleted topics) cannot come back, so the DB commit follows at once.

    Shares *into* the project are revoked where they live (the owners' datasets and Hive
    databases); shares *of* the project's own data go with the data."""
    b = rt.backends
    usernames = [username for username, _role in members]
    for owner, dataset, writable in incoming.datasets:
        unshare_dataset(saga, rt, owner=owner, dataset=dataset, target=project, writable=writable)
    for owner, writable in incoming.hive:
        unshare_hive(saga, rt, owner=owner, target=project, usernames=usernames, writable=writable)

    def regrant_kafka() -> None:
        for username in usernames:
            b.kafka.grant_member(project, username)
        for owner, topic, writable in incoming.topics:
            b.kafka.share_topic(owner, topic, project, usernames, writable)

    def recreate_namespace() -> None:
        b.kubernetes.ensure_project(project, serving_quota(rt, gpus))
        for username, role in members:
            b.kubernetes.grant_member(project, username, role.value)
            if username in certificates:
                pems = certificate_pems(rt, certificates[username])
                b.kubernetes.store_member_certificate(project, username, *pems)

    saga.step("kafka", lambda: b.kafka.delete_project(project), regrant_kafka)
    saga.step(
        "yarn",
        lambda: b.compute.delete_project_queue(project),
        lambda: b.compute.create_project_queue(
            project, rt.settings.project_queue_capacity, rt.settings.project_queue_max_capacity
        ),
    )
    saga.step("kubernetes", lambda: b.kubernetes.delete_project(project), recreate_namespace)
    # Dropping the database destroys its tables: it is the last backend step, so any
    # earlier failure is undone before it runs; only the storage move and the commit follow.
    saga.step(
        "hive", lambda: b.hive.drop_database(project), lambda: b.hive.create_database(project)
    )


# --- shares: dataset -> storage ACL for the target's group; topic / Hive -> per member ---


def share_dataset(
    saga: Saga,
    rt: Runtime,
    *,
    owner: str,
    dataset: str,
    target: str,
    writable: bool,
    previous: bool | None = None,
) -> None:
    """`previous` is the grant before this step (None: none), what undo puts back."""
    storage = rt.backends.storage

    def undo() -> None:
        if previous is None:
            storage.revoke_group(owner, dataset, target)
        else:
            storage.grant_group(owner, dataset, target, previous)

    saga.step("storage", lambda: storage.grant_group(owner, dataset, target, writable), undo)


def unshare_dataset(
    saga: Saga, rt: Runtime, *, owner: str, dataset: str, target: str, writable: bool
) -> None:
    storage = rt.backends.storage
    saga.step(
        "storage",
        lambda: storage.revoke_group(owner, dataset, target),
        lambda: storage.grant_group(owner, dataset, target, writable),
    )


def share_topic(
    saga: Saga,
    rt: Runtime,
    *,
    owner: str,
    topic: str,
    target: str,
    usernames: list[str],
    writable: bool,
) -> None:
    kafka = rt.backends.kafka
    saga.step(
        "kafka",
        lambda: kafka.share_topic(owner, topic, target, usernames, writable),
        lambda: kafka.unshare_topic(owner, topic, target, usernames),
    )


def unshare_topic(
    saga: Saga,
    rt: Runtime,
    *,
    owner: str,
    topic: str,
    target: str,
    usernames: list[str],
    writable: bool,
) -> None:
    kafka = rt.backends.kafka
    saga.step(
        "kafka",
        lambda: kafka.unshare_topic(owner, topic, target, usernames),
        lambda: kafka.share_topic(owner, topic, target, usernames, writable),
    )


def share_hive(
    saga: Saga, rt: Runtime, *, owner: str, target: str, usernames: list[str], writable: bool
) -> None:
    hive = rt.backends.hive
    saga.step(
        "hive",
        lambda: hive.grant_share(owner, target, usernames, writable),
        lambda: hive.revoke_share(owner, target, usernames),
    )


def unshare_hive(
    saga: Saga, rt: Runtime, *, owner: str, target: str, usernames: list[str], writable: bool
) -> None:
    hive = rt.backends.hive
    saga.step(
        "hive",
        lambda: hive.revoke_share(owner, target, usernames),
        lambda: hive.grant_share(owner, target, usernames, writable),
    )
