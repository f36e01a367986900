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

from hopsworks_api.authz import Role
from hopsworks_api.backends.errors import BackendUnavailable
from hopsworks_api.backends.kafka.base import principal_project
from hopsworks_api.backends.steps import certificate_pems, serving_quota
from hopsworks_api.datasets.models import Dataset
from hopsworks_api.db.base import utcnow
from hopsworks_api.members.models import Membership
from hopsworks_api.pki.models import Certificate, CertKind, CertStatus
from hopsworks_api.projects.models import Project
from hopsworks_api.quotas.models import ProjectQuota
from hopsworks_api.runtime import Runtime
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
            result[name] = Desired(
                name, datasets, members, certificates, quota.gpus_limit if quota else None
            )
        return result


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
    want = desired_state(rt, project)
    run = _Run(rt, dry_run)
    run.guarded("storage", lambda: _storage(run, want))
    run.guarded("hive", lambda: _hive(run, want, everything=project is None))
    run.guarded("yarn", lambda: _compute(run, want, everything=project is None))
    run.guarded("kafka", lambda: _kafka(run, want, project))
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


def _hive(run: _Run, want: dict[str, Desired], *, everything: bool) -> None:
    hive = run.rt.backends.hive
    existing = set(hive.list_project_databases())
    for name, desired in want.items():
        if name not in existing:

            def recreate(name: str = name, desired: Desired = desired) -> None:
                hive.create_database(name)
                for username, role in desired.members.items():
                    hive.grant_member(name, username, role.value)

            run.found("hive", name, "database missing", recreate)
    if everything:
        for name in sorted(existing - set(want)):
            run.found(
                "hive",
                name,
                "database of a project that does not exist",
                lambda name=name: hive.drop_database(name),
            )


def _compute(run: _Run, want: dict[str, Desired], *, everything: bool) -> None:
    compute, settings = run.rt.backends.compute, run.rt.settings
    queues = {q.project: q for q in compute.list_project_queues()}
    for name in want:
        if name not in queues:
            run.found(
                "yarn",
                name,
                "queue missing",
                lambda name=name: compute.create_project_queue(
                    name, settings.project_queue_capacity, settings.project_queue_max_capacity
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


def _kafka(run: _Run, want: dict[str, Desired], project: str | None) -> None:
    kafka = run.rt.backends.kafka
    holders: dict[str, set[str]] = {}
    for entry in kafka.describe_acls(project):
        owner = principal_project(entry.principal)
        if owner is not None and (project is None or owner == project):
            holders.setdefault(owner, set()).add(entry.principal.split("__", 1)[1])
    for name, desired in want.items():
        have = holders.get(name, set())
        for username in sorted(set(desired.members) - have):
            run.found(
                "kafka",
                name,
                f"ACLs of member '{username}' missing",
                lambda name=name, u=username: kafka.grant_member(name, u),
            )
        for username in sorted(have - set(desired.members)):
            run.found(
                "kafka",
                name,
                f"ACLs of non-member '{username}'",
                lambda name=name, u=username: kafka.revoke_member(name, u),
            )
    for name in sorted(set(holders) - set(want)):
        run.found(
            "kafka",
            name,
            "ACLs of a project that does not exist",
            lambda name=name: kafka.delete_project(name),
        )


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
