"""Converge every backend to the DB, which holds the desired state, and report the drift.

Run by `hops reconcile [--project P] [--dry-run]` and periodically by the service. Each
repair is one of the idempotent saga steps the services use, so repairing twice is safe;
a system that does not answer is reported as drift, never a crash.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select

from hopsworks_api.backends.errors import BackendUnavailable
from hopsworks_api.backends.hive.base import (
    READ_ONLY,
    ROLE_PRIVILEGES,
    SHARE_READ_PRIVILEGES,
    SHARE_WRITE_PRIVILEGES,
)
from hopsworks_api.backends.kafka.base import (
    AclEntry,
    TopicShare,
    concerns,
    expected_acls,
    member_acls,
    principal_project,
    split_physical,
)
from hopsworks_api.backends.steps import certificate_pems, serving_quota
from hopsworks_api.datasets.models import Dataset
from hopsworks_api.db.base import utcnow
from hopsworks_api.identity import Role, project_user
from hopsworks_api.members.models import Membership
from hopsworks_api.pki.models import Certificate, CertKind, CertStatus
from hopsworks_api.projects.models import Project
from hopsworks_api.quotas.models import ProjectQuota
from hopsworks_api.runtime import Runtime
from hopsworks_api.sharing.models import (
    DatasetShare,
    Permission,
    ResourceShare,
    ShareKind,
    ShareStatus,
)
from hopsworks_api.topics.models import Topic
from hopsworks_api.users.models import User

log = logging.getLogger(__name__)


@dataclass
class Drift:
    system: str
    project: str
    problem: str
    repaired: bool = False


@dataclass
class Desired:
    """One project as the DB says it should exist everywhere."""

    name: str
    datasets: list[str]
    members: dict[str, Role]
    certificates: dict[str, Certificate]
    gpus: int | None
    topics: dict[str, tuple[int, int]] = field(default_factory=dict)  # partitions, replication
    dataset_shares: dict[str, dict[str, bool]] = field(default_factory=dict)  # accepted
    topic_shares: list[TopicShare] = field(default_factory=list)  # accepted, outgoing
    hive_shares: dict[str, bool] = field(default_factory=dict)  # target -> writable
    hive_read_only: bool = False  # over its Hive size quota (quotas.accounting)
    compute_stopped: bool = False  # PREPAID credits spent (quotas.accounting)


@dataclass
class World:
    """The projects in scope, plus every project's members: shares reach across projects,
    so a project's expected grants depend on other projects' membership."""

    want: dict[str, Desired]
    members: dict[str, dict[str, Role]]
    topic_shares: list[TopicShare]


@dataclass
class Report:
    drift: list[Drift] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)


def desired_state(rt: Runtime, project: str | None = None) -> dict[str, Desired]:
    with rt.read_sessions() as session:
        query = select(Project.id, Project.name)
        if project:
            query = query.where(Project.name == project)
        result: dict[str, Desired] = {}
        for project_id, name in session.execute(query).all():
            quota = session.get(ProjectQuota, project_id)
            members = {
                username: Role(role)
                for username, role in session.execute(
                    select(User.username, Membership.role)
                    .join(Membership, Membership.user_id == User.id)
                    .where(Membership.project_id == project_id)
                )
            }
            certificates: dict[str, Certificate] = {}
            for username, cert in session.execute(
                select(User.username, Certificate)
                .join(Certificate, Certificate.user_id == User.id)
                .where(
                    Certificate.project_id == project_id,
                    Certificate.kind == CertKind.PROJECT_USER,
                    Certificate.status == CertStatus.VALID,
                    Certificate.not_after > utcnow(),
                )
                .order_by(Certificate.id)
            ):
                certificates[username] = cert  # the newest wins
            datasets = list(
                session.scalars(select(Dataset.name).where(Dataset.project_id == project_id))
            )
            desired = Desired(
                name, datasets, members, certificates, quota.gpus_limit if quota else None
            )
            if quota is not None:
                desired.hive_read_only = quota.hive_writes_blocked
                desired.compute_stopped = quota.compute_stopped
            _add_shares(session, project_id, desired)
            result[name] = desired
        return result


def _add_shares(session, project_id: int, desired: Desired) -> None:  # type: ignore[no-untyped-def]
    accepted, editable = ShareStatus.ACCEPTED, Permission.EDITABLE
    desired.topics = {
        t.name: (t.partitions, t.replication)
        for t in session.scalars(select(Topic).where(Topic.project_id == project_id))
    }
    for dataset, target, permission in session.execute(
        select(Dataset.name, Project.name, DatasetShare.permission)
        .join(DatasetShare, DatasetShare.dataset_id == Dataset.id)
        .join(Project, Project.id == DatasetShare.target_project_id)
        .where(Dataset.project_id == project_id, DatasetShare.status == accepted)
    ):
        desired.dataset_shares.setdefault(dataset, {})[target] = permission == editable
    for kind, resource, target, permission in session.execute(
        select(ResourceShare.kind, ResourceShare.resource, Project.name, ResourceShare.permission)
        .join(Project, Project.id == ResourceShare.target_project_id)
        .where(ResourceShare.owner_project_id == project_id, ResourceShare.status == accepted)
    ):
        if kind == ShareKind.TOPIC:
            desired.topic_shares.append(
                TopicShare(desired.name, resource, target, permission == editable)
            )
        else:
            desired.hive_shares[target] = permission == editable


def world(rt: Runtime, project: str | None = None) -> World:
    everything = desired_state(rt)
    want = everything if project is None else {k: v for k, v in everything.items() if k == project}
    return World(
        want=want,
        members={name: d.members for name, d in everything.items()},
        topic_shares=[share for d in everything.values() for share in d.topic_shares],
    )


class _Run:
    def __init__(self, rt: Runtime, dry_run: bool) -> None:
        self.rt = rt
        self.dry_run = dry_run
        self.report = Report()

    def found(self, system: str, project: str, problem: str, repair: Callable[[], None]) -> None:
        drift = Drift(system, project, problem)
        self.report.drift.append(drift)
        if self.dry_run:
            return
        try:
            repair()
            drift.repaired = True
        except BackendUnavailable as exc:
            drift.problem += f" (repair failed: {exc.message})"

    def guarded(self, system: str, check: Callable[[], None]) -> None:
        try:
            check()
        except BackendUnavailable as exc:
            self.report.unreachable.append(f"{system}: {exc.message}")


def reconcile(rt: Runtime, *, project: str | None = None, dry_run: bool = False) -> Report:
    scope = world(rt, project)
    want = scope.want
    run = _Run(rt, dry_run)
    run.guarded("storage", lambda: _storage(run, want))
    run.guarded("hive", lambda: _hive(run, scope, everything=project is None))
    run.guarded("yarn", lambda: _compute(run, want, everything=project is None))
    run.guarded("kafka", lambda: _topics(run, want))
    run.guarded("kafka", lambda: _kafka(run, scope, project))
    run.guarded("kubernetes", lambda: _kubernetes(run, want, everything=project is None))
    for drift in run.report.drift:
        log.warning(
            "drift",
            extra={
                "system": drift.system,
                "project": drift.project,
                "problem": drift.problem,
                "repaired": drift.repaired,
            },
        )
    return run.report


def _storage(run: _Run, want: dict[str, Desired]) -> None:
    storage = run.rt.backends.storage
    for name, desired in want.items():
        if not storage.project_exists(name):
            run.found(
                "storage",
                name,
                "project directory missing",
                lambda name=name: storage.create_project(name),
            )
        for dataset in desired.datasets:
            if storage.stat(name, dataset, ()) is None:
                run.found(
                    "storage",
                    name,
                    f"dataset directory '{dataset}' missing",
                    lambda name=name, d=dataset: storage.create_dataset(name, d),
                )
                continue
            _share_groups(run, name, dataset, desired.dataset_shares.get(dataset, {}))


def _share_groups(run: _Run, name: str, dataset: str, expected: dict[str, bool]) -> None:
    storage = run.rt.backends.storage
    actual = storage.share_groups(name, dataset)
    for group, writable in sorted(expected.items()):
        if actual.get(group) is not writable:
            run.found(
                "storage",
                name,
                f"share of '{dataset}' with '{group}' missing or wrong in its ACL",
                lambda d=dataset, g=group, w=writable: storage.grant_group(name, d, g, w),
            )
    for group in sorted(set(actual) - set(expected)):
        run.found(
            "storage",
            name,
            f"ACL of '{dataset}' grants '{group}' without a share",
            lambda d=dataset, g=group: storage.revoke_group(name, d, g),
        )


def _hive(run: _Run, scope: World, *, everything: bool) -> None:
    hive, want = run.rt.backends.hive, scope.want
    existing = set(hive.list_project_databases())
    for name, desired in want.items():
        if name not in existing:

            def recreate(name: str = name, desired: Desired = desired) -> None:
                hive.create_database(name)
                for username, role in desired.members.items():
                    granted = READ_ONLY if desired.hive_read_only else role.value
                    hive.grant_member(name, username, granted)
                for target, writable in desired.hive_shares.items():
                    users = sorted(scope.members.get(target, {}))
                    hive.grant_share(name, target, users, writable)

            run.found("hive", name, "database missing", recreate)
        else:
            _hive_grants(run, scope, desired)
    if everything:
        for name in sorted(existing - set(want)):
            run.found(
                "hive",
                name,
                "database of a project that does not exist",
                lambda name=name: hive.drop_database(name),
            )


def _hive_grants(run: _Run, scope: World, desired: Desired) -> None:
    """Compare privileges by principal; a server that cannot list grants (Spark Thrift
    Server) gives None, and then there is nothing to compare."""
    hive, name = run.rt.backends.hive, desired.name
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
        for username in scope.members.get(target, {}):
            expected[project_user(target, username)] = (
                lambda t=target, u=username, w=writable: hive.grant_share(name, t, [u], w),
                privileges,
            )
    for who, (repair, privileges) in sorted(expected.items()):
        if set(actual.get(who, ())) != set(privileges):
            run.found("hive", name, f"privileges of '{who}' missing or wrong", repair)
    for who in sorted(set(actual) - set(expected)):
        holder, _, username = who.partition("__")
        if holder == name:
            revoke = lambda u=username: hive.revoke_member(name, u)  # noqa: E731
        else:
            revoke = lambda h=holder, u=username: hive.revoke_share(name, h, [u])  # noqa: E731
        run.found("hive", name, f"privileges of '{who}' granted by nothing", revoke)


def _compute(run: _Run, want: dict[str, Desired], *, everything: bool) -> None:
    compute, settings = run.rt.backends.compute, run.rt.settings
    queues = {q.project: q for q in compute.list_project_queues()}
    for name, desired in want.items():
        stopped = desired.compute_stopped
        if name not in queues:

            def recreate(name: str = name, stopped: bool = stopped) -> None:
                compute.create_project_queue(
                    name, settings.project_queue_capacity, settings.project_queue_max_capacity
                )
                if stopped:
                    compute.set_queue_state(name, running=False)

            run.found("yarn", name, "queue missing", recreate)
        elif stopped != (queues[name].state != "RUNNING"):
            run.found(
                "yarn",
                name,
                "queue should be stopped (credits spent)" if stopped else "queue should run",
                lambda name=name, stopped=stopped: compute.set_queue_state(
                    name, running=not stopped
                ),
            )
    if everything:
        for name in sorted(set(queues) - set(want)):
            run.found(
                "yarn",
                name,
                "queue of a project that does not exist",
                lambda name=name: compute.delete_project_queue(name),
            )


def _topics(run: _Run, want: dict[str, Desired]) -> None:
    kafka = run.rt.backends.kafka
    for name, desired in want.items():
        actual = {t.name: t for t in kafka.list_topics(name)}
        for topic, (partitions, replication) in sorted(desired.topics.items()):
            if topic not in actual:
                run.found(
                    "kafka",
                    name,
                    f"topic '{topic}' missing",
                    lambda t=topic, p=partitions, r=replication, n=name: kafka.create_topic(
                        n, t, p, r
                    ),
                )
        for topic in sorted(set(actual) - set(desired.topics)):
            run.found(
                "kafka",
                name,
                f"topic '{topic}' is not in the DB",
                lambda t=topic, n=name: kafka.delete_topic(n, t),
            )


def _kafka(run: _Run, scope: World, project: str | None) -> None:
    """Compare ACL bindings with what memberships and accepted topic shares imply, and
    repair through the same operations the sagas use."""
    kafka = run.rt.backends.kafka
    expected = {
        entry
        for entry in expected_acls(
            {p: list(m) for p, m in scope.members.items()}, scope.topic_shares
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
        username = entry.principal.split("__", 1)[1]
        if holder not in scope.members:
            if holder not in gone and (project is None or holder == project):
                gone.add(holder)
                run.found(
                    "kafka",
                    holder,
                    "ACLs of a project that does not exist",
                    lambda h=holder: kafka.delete_project(h),
                )
        elif username not in scope.members[holder]:
            if (holder, username) not in reported:
                reported.add((holder, username))
                run.found(
                    "kafka",
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
                    "kafka",
                    owner,
                    f"'{entry.principal}' holds ACLs on topic '{topic}' without a share",
                    lambda o=owner, t=topic, h=holder, u=username: kafka.unshare_topic(
                        o, t, h, [u]
                    ),
                )
    shares = {(s.owner_project, s.topic, s.target_project): s for s in scope.topic_shares}
    for entry in sorted(missing, key=_acl_key):
        holder = principal_project(entry.principal)
        if holder is None:
            continue
        username = entry.principal.split("__", 1)[1]
        if entry in member_acls(holder, username):
            if (holder, username, "member") not in reported:
                reported.add((holder, username, "member"))
                run.found(
                    "kafka",
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
                "kafka",
                share.owner_project,
                f"share of topic '{share.topic}' with '{holder}': ACLs of '{username}' missing",
                lambda s=share, u=username: kafka.share_topic(
                    s.owner_project, s.topic, s.target_project, [u], s.writable
                ),
            )


def _acl_key(entry: AclEntry) -> tuple[str, ...]:
    return (entry.principal, entry.resource_type, entry.resource_name, entry.operation)


def _kubernetes(run: _Run, want: dict[str, Desired], *, everything: bool) -> None:
    kube, rt = run.rt.backends.kubernetes, run.rt
    for name, desired in want.items():
        actual = kube.describe_project(name)
        if not actual.exists:
            run.found(
                "kubernetes",
                name,
                "namespace missing",
                lambda name=name, d=desired: kube.ensure_project(name, serving_quota(rt, d.gpus)),
            )
        for username, role in desired.members.items():
            if actual.members.get(username) != role.value:
                run.found(
                    "kubernetes",
                    name,
                    f"role binding of '{username}' missing or wrong",
                    lambda name=name, u=username, r=role: kube.grant_member(name, u, r.value),
                )
            cert = desired.certificates.get(username)
            if cert is not None and username not in actual.certificates:
                run.found(
                    "kubernetes",
                    name,
                    f"certificate secret of '{username}' missing",
                    lambda name=name, u=username, c=cert: kube.store_member_certificate(
                        name, u, *certificate_pems(rt, c)
                    ),
                )
        for username in sorted(set(actual.members) - set(desired.members)):
            run.found(
                "kubernetes",
                name,
                f"role binding of non-member '{username}'",
                lambda name=name, u=username: kube.revoke_member(name, u),
            )
        for username in sorted(set(actual.certificates) - set(desired.members)):
            run.found(
                "kubernetes",
                name,
                f"certificate secret of non-member '{username}'",
                lambda name=name, u=username: kube.delete_member_certificate(name, u),
            )
    if everything:
        for name in sorted(set(kube.list_projects()) - set(want)):
            run.found(
                "kubernetes",
                name,
                "namespace of a project that does not exist",
                lambda name=name: kube.delete_project(name),
            )
