"""A notebook server in a Kubernetes cluster: the Pod, its NetworkPolicy, the Service the
control service reaches it by and the Secret with Jupyter's token, rendered and validated
against the official schemas. `backends/runner/kubernetes_servers.py` creates, watches and
deletes them, `notebooks/in_cluster.py` runs a member's server with them when the job runner
is `kubernetes` (tested against the API server fake only, docs/notebooks.md).

The Pod runs in the project's namespace as the member (the member's certificate Secret,
which the kubernetes provisioning system keeps, mounted read-only), unprivileged, its
requests equal to its limits and within the project's ResourceQuota; its root directory is
the project's `Jupyter` dataset on the project's datasets volume. The NetworkPolicy denies
every egress but to the platform's own services (and the cluster's DNS), and every ingress
but from the control service, the only way in.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hops_platform.quantity import parse_quantity
from hopsworks_api.backends.kubernetes.base import (
    KubeQuota,
    namespace_for,
    secret_name,
    validate_manifest,
)
from hopsworks_api.errors import BadRequest, PayloadTooLarge

Obj = dict[str, Any]

JUPYTER_PORT = 8888
NOBODY = 65534
DATASETS_DIR = "/hopsfs"
CREDENTIALS_DIR = "/credentials"
SCRATCH_DIR = "/scratch"
LABEL_COMPONENT = "hops.io/component"
LABEL_USER = "hops.io/user"
COMPONENT = "notebook"
CONTROL_SERVICE_NAMESPACE = "hops-system"
CONTROL_SERVICE_LABELS = {"app.kubernetes.io/name": "hopsworks-api"}


@dataclass(frozen=True)
class NotebookPodSpec:
    project: str
    username: str
    image: str
    base_url: str
    cores: int
    memory_mb: int
    datasets_claim: str
    """The PersistentVolumeClaim holding the project's datasets (one directory each)."""
    writable: Sequence[str]
    """Datasets the member's role may write; the others are mounted read-only."""
    readable: Sequence[str]


def name(username: str) -> str:
    return f"jupyter-{username}"


def token_secret(username: str) -> str:
    return f"{name(username)}-token"


def _labels(spec: NotebookPodSpec) -> dict[str, str]:
    return {
        "app.kubernetes.io/managed-by": "hopsworks-api",
        "hops.io/project": namespace_for(spec.project),
        LABEL_COMPONENT: COMPONENT,
        LABEL_USER: spec.username,
    }


def check_within_quota(spec: NotebookPodSpec, quota: KubeQuota | None) -> None:
    """413 when the server alone asks for more than the project's namespace may hold (no
    quota in the namespace: the cluster's own limits apply)."""
    if quota is None:
        return
    hard = quota.hard()
    asked = {
        "cpu": parse_quantity(str(spec.cores)),
        "memory": parse_quantity(f"{spec.memory_mb}Mi"),
    }
    for resource, amount in asked.items():
        limit = parse_quantity(hard[f"requests.{resource}"])
        if amount > limit:
            raise PayloadTooLarge(
                f"a notebook server asking for {amount} {resource} exceeds the project's "
                f"Kubernetes quota of {hard[f'requests.{resource}']}",
                code="kubernetes_quota_exceeded",
            )


def pod_manifest(spec: NotebookPodSpec, quota: KubeQuota | None) -> Obj:
    check_within_quota(spec, quota)
    amounts = {"cpu": str(spec.cores), "memory": f"{spec.memory_mb}Mi"}
    token_ref = {"name": token_secret(spec.username), "key": "token"}
    mounts = [
        {
            "name": "datasets",
            "mountPath": f"{DATASETS_DIR}/{dataset}",
            "subPath": dataset,
            "readOnly": dataset not in spec.writable,
        }
        for dataset in sorted(set(spec.readable) | set(spec.writable))
    ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name(spec.username),
            "namespace": namespace_for(spec.project),
            "labels": _labels(spec),
            "annotations": {"hops.io/project-user": f"{spec.project}__{spec.username}"},
        },
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": NOBODY,
                "runAsGroup": NOBODY,
                "fsGroup": NOBODY,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "jupyter",
                    "image": spec.image,
                    "command": [
                        "python",
                        "-m",
                        "jupyterlab",
                        "--no-browser",
                        "--ServerApp.ip=0.0.0.0",
                        f"--ServerApp.port={JUPYTER_PORT}",
                        f"--ServerApp.base_url={spec.base_url}",
                        f"--ServerApp.root_dir={DATASETS_DIR}/Jupyter",
                        "--ServerApp.allow_remote_access=True",
                    ],
                    "workingDir": SCRATCH_DIR,
                    "ports": [{"name": "jupyter", "containerPort": JUPYTER_PORT}],
                    # Ready once Jupyter answers (`<base_url>api` needs no token)
                    "readinessProbe": {
                        "httpGet": {"path": f"{spec.base_url}api", "port": "jupyter"},
                        "periodSeconds": 5,
                    },
                    "env": [
                        {"name": "HOME", "value": SCRATCH_DIR},
                        {"name": "HOPS_PROJECT", "value": spec.project},
                        {"name": "HOPS_USER", "value": f"{spec.project}__{spec.username}"},
                        {"name": "HOPS_DATASETS_DIR", "value": DATASETS_DIR},
                        {"name": "HOPS_CREDENTIALS_DIR", "value": CREDENTIALS_DIR},
                        {
                            # the token lives in a Secret only the control service reads
                            "name": "JUPYTER_TOKEN",
                            "valueFrom": {"secretKeyRef": token_ref},
                        },
                    ],
                    "resources": {"requests": dict(amounts), "limits": dict(amounts)},
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                    "volumeMounts": [
                        *mounts,
                        {"name": "credentials", "mountPath": CREDENTIALS_DIR, "readOnly": True},
                        {"name": "scratch", "mountPath": SCRATCH_DIR},
                        {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - the pod's own
                    ],
                }
            ],
            "volumes": [
                {
                    "name": "datasets",
                    "persistentVolumeClaim": {"claimName": spec.datasets_claim},
                },
                {
                    "name": "credentials",
                    "secret": {"secretName": secret_name(spec.username), "defaultMode": 0o400},
                },
                {"name": "scratch", "emptyDir": {}},
                {"name": "tmp", "emptyDir": {}},
            ],
        },
    }


def network_policy_manifest(
    spec: NotebookPodSpec, platform_services: Sequence[tuple[str, int]]
) -> Obj:
    """Default-deny both ways for the member's server: egress only to the platform's
    services (`(address or CIDR, TCP port)`) and the cluster DNS, ingress only from the
    control service (the proxy)."""
    egress: list[Obj] = [
        {
            "to": [{"ipBlock": {"cidr": str(_network(address))}}],
            "ports": [{"protocol": "TCP", "port": port}],
        }
        for address, port in platform_services
    ]
    egress.append(
        {
            "to": [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                    },
                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                }
            ],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        }
    )
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": name(spec.username),
            "namespace": namespace_for(spec.project),
            "labels": _labels(spec),
        },
        "spec": {
            "podSelector": {"matchLabels": {LABEL_COMPONENT: COMPONENT, LABEL_USER: spec.username}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {
                                    "kubernetes.io/metadata.name": CONTROL_SERVICE_NAMESPACE
                                }
                            },
                            "podSelector": {"matchLabels": dict(CONTROL_SERVICE_LABELS)},
                        }
                    ],
                    "ports": [{"protocol": "TCP", "port": JUPYTER_PORT}],
                }
            ],
            "egress": egress,
        },
    }


def _network(address: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(address, strict=False)
    except ValueError as exc:
        raise BadRequest(
            f"platform service address '{address}' is not an IP address or CIDR "
            "(a NetworkPolicy names addresses, not host names)",
            code="bad_platform_service",
        ) from exc


def manifests(
    spec: NotebookPodSpec, quota: KubeQuota | None, platform_services: Sequence[tuple[str, int]]
) -> list[Obj]:
    """The Pod and its NetworkPolicy, each validated (strict) against the official schema."""
    objects = [pod_manifest(spec, quota), network_policy_manifest(spec, platform_services)]
    for obj in objects:
        validate_manifest(obj)
    return objects


def service_manifest(spec: NotebookPodSpec) -> Obj:
    """The ClusterIP Service the control service's proxy reaches Jupyter by
    (`http://<name>.<namespace>.svc:8888`); the NetworkPolicy admits only the proxy."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name(spec.username),
            "namespace": namespace_for(spec.project),
            "labels": _labels(spec),
        },
        "spec": {
            "type": "ClusterIP",
            "selector": {LABEL_COMPONENT: COMPONENT, LABEL_USER: spec.username},
            "ports": [
                {
                    "name": "jupyter",
                    "protocol": "TCP",
                    "port": JUPYTER_PORT,
                    "targetPort": "jupyter",
                }
            ],
        },
    }


def token_secret_manifest(spec: NotebookPodSpec, token: str) -> Obj:
    """Jupyter's random token, read by the pod's environment and by the control service only
    (the member's certificate Secret is the kubernetes provisioning system's)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "immutable": True,
        "metadata": {
            "name": token_secret(spec.username),
            "namespace": namespace_for(spec.project),
            "labels": _labels(spec),
        },
        "stringData": {"token": token},
    }


def server_objects(
    spec: NotebookPodSpec,
    quota: KubeQuota | None,
    platform_services: Sequence[tuple[str, int]],
    token: str,
) -> list[Obj]:
    """Everything one server needs, in creation order: the token Secret and the
    NetworkPolicy before the Pod (the pod never runs unfenced), the Service last."""
    return [
        token_secret_manifest(spec, token),
        network_policy_manifest(spec, platform_services),
        pod_manifest(spec, quota),
        service_manifest(spec),
    ]
