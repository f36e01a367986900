"""Kubernetes: a namespace per project with a ResourceQuota carrying its serving resources
and GPU quota, a RoleBinding per member, and each member's certificate as a Secret."""

from __future__ import annotations

from hopsworks_api.backends.kubernetes.base import KubeQuota
from hopsworks_api.provisioning.systems.base import Pass

SYSTEM = "kubernetes"


def serving_quota(run: Pass, gpus: int | None) -> KubeQuota:
    settings = run.settings
    return KubeQuota(
        cpu=settings.project_serving_cpu, memory=settings.project_serving_memory, gpus=gpus
    )


def converge(run: Pass) -> None:
    kube, world = run.backends.kubernetes, run.world
    existing = kube.list_projects() if world.everything else []
    for name in world.names(existing):
        with kube.batch():  # an embedded backend writes the project's state once
            _converge_project(run, name)


def _converge_project(run: Pass, name: str) -> None:
    kube = run.backends.kubernetes
    desired = run.world.want.get(name)
    actual = kube.describe_project(name)
    if desired is None:
        if actual.exists:
            run.found(
                SYSTEM,
                name,
                "namespace of a project that does not exist",
                lambda name=name: kube.delete_project(name),
                destructive=True,
            )
        return
    quota = serving_quota(run, desired.gpus)
    if not actual.exists:
        run.found(
            SYSTEM, name, "namespace missing", lambda n=name, q=quota: kube.ensure_project(n, q)
        )
    elif actual.quota is not None and actual.quota != quota:
        run.found(
            SYSTEM,
            name,
            "resource quota differs from the project's",
            lambda n=name, q=quota: kube.ensure_project(n, q),
        )
    for username, role in desired.members.items():
        if actual.members.get(username) != role.value:
            run.found(
                SYSTEM,
                name,
                f"role binding of '{username}' missing or wrong",
                lambda n=name, u=username, r=role: kube.grant_member(n, u, r.value),
            )
        cert = desired.certificates.get(username)
        if cert is not None and username not in actual.certificates:
            run.found(
                SYSTEM,
                name,
                f"certificate secret of '{username}' missing",
                lambda n=name, u=username, c=cert: kube.store_member_certificate(
                    n, u, *run.certificate_pems(c)
                ),
            )
    leftovers = (
        ("role binding", actual.members, kube.revoke_member),
        ("certificate secret", actual.certificates, kube.delete_member_certificate),
    )
    for what, held, remove in leftovers:
        for username in sorted(set(held) - set(desired.members)):
            run.found(
                SYSTEM,
                name,
                f"{what} of non-member '{username}'",
                lambda n=name, u=username, r=remove: r(n, u),
            )
