"""The Kubernetes backend: per-project namespace, quota, RBAC and certificates
(`EmbeddedKubernetes` in `embedded`: desired state recorded; `ClusterKubernetes` in
`cluster`: the Kubernetes REST API); the package exports the contract only."""

from hopsworks_api.backends.kubernetes.base import (
    DEFAULT_CLUSTER_ROLES,
    KubeQuota,
    KubernetesBackend,
    ProjectDescription,
    namespace_for,
    validate_manifest,
)

__all__ = [
    "DEFAULT_CLUSTER_ROLES",
    "KubeQuota",
    "KubernetesBackend",
    "ProjectDescription",
    "namespace_for",
    "validate_manifest",
]
