"""A manifest (a plain dict) becomes a pulumi_kubernetes resource of its typed class.

Typed classes (not one generic `CustomResource`) give each object its real type token
(`kubernetes:apps/v1:Deployment`), which the provider's diffing and await logic and the policy
pack key on. Top-level fields become the class's keyword arguments; nested dicts are passed
as they are (camelCase, as the API server reads them). Kinds without a typed class here
(custom resources) use `kubernetes.apiextensions.CustomResource`.

Secrets: the `data` and `stringData` of every Secret are wrapped in `Output.secret`, so
Pulumi encrypts them in the state and shows them as [secret]; this is the one place that
happens, and a test checks every registered Secret.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from hops_k8s.objects.helm import HelmRelease

TYPED: Mapping[tuple[str, str], type[pulumi.CustomResource]] = {
    ("v1", "Namespace"): k8s.core.v1.Namespace,
    ("v1", "ServiceAccount"): k8s.core.v1.ServiceAccount,
    ("v1", "Secret"): k8s.core.v1.Secret,
    ("v1", "ConfigMap"): k8s.core.v1.ConfigMap,
    ("v1", "Service"): k8s.core.v1.Service,
    ("v1", "PersistentVolumeClaim"): k8s.core.v1.PersistentVolumeClaim,
    ("apps/v1", "Deployment"): k8s.apps.v1.Deployment,
    ("apps/v1", "StatefulSet"): k8s.apps.v1.StatefulSet,
    ("apps/v1", "DaemonSet"): k8s.apps.v1.DaemonSet,
    ("networking.k8s.io/v1", "NetworkPolicy"): k8s.networking.v1.NetworkPolicy,
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): k8s.rbac.v1.ClusterRole,
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): k8s.rbac.v1.ClusterRoleBinding,
}
SECRET_FIELDS = ("data", "stringData")


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@functools.cache
def _parameters(cls: type) -> frozenset[str]:
    return frozenset(inspect.signature(cls._internal_init).parameters)  # type: ignore[attr-defined]


def resource_name(obj: Mapping[str, Any]) -> str:
    """The Pulumi name of an object: unique per type, stable, readable."""
    meta = obj["metadata"]
    namespace = meta.get("namespace")
    return f"{namespace}-{meta['name']}" if namespace else meta["name"]


def create(obj: Mapping[str, Any], opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    api_version, kind = obj["apiVersion"], obj["kind"]
    fields = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    if kind == "Secret" and api_version == "v1":
        for name in SECRET_FIELDS:
            if name in fields:
                fields[name] = pulumi.Output.secret(fields[name])
    cls = TYPED.get((api_version, kind))
    if cls is None:
        return k8s.apiextensions.CustomResource(
            resource_name(obj), api_version=api_version, kind=kind, opts=opts, **fields
        )
    kwargs = {_snake(k): v for k, v in fields.items()}
    unknown = set(kwargs) - _parameters(cls)
    if unknown:
        raise TypeError(f"{kind} has no field {', '.join(sorted(unknown))}")
    return cls(resource_name(obj), opts=opts, **kwargs)


def helm_release(release: HelmRelease, opts: pulumi.ResourceOptions) -> k8s.helm.v3.Release:
    repository = (
        k8s.helm.v3.RepositoryOptsArgs(repo=release.repository) if release.repository else None
    )
    return k8s.helm.v3.Release(
        release.name,
        name=release.name,
        namespace=release.namespace,
        chart=release.chart,
        version=release.version,
        repository_opts=repository,
        values=release.values,
        create_namespace=False,
        atomic=True,
        cleanup_on_fail=True,
        timeout=release.timeout_seconds,
        opts=opts,
    )
