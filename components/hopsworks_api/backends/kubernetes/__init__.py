"""The Kubernetes backend: per-project namespace, quota, RBAC and certificates
(none: desired state recorded | cluster: Kubernetes REST API)."""

from hopsworks_api.backends.kubernetes.base import (
    DEFAULT_CLUSTER_ROLES,
    KubeQuota,
    KubernetesBackend,
    ProjectDescription,
    namespace_for,
    platform_cluster_roles,
    validate_manifest,
)
from hopsworks_api.backends.kubernetes.cluster import ClusterKubernetes
from hopsworks_api.backends.kubernetes.none import NoKubernetes

__all__ = [
    "DEFAULT_CLUSTER_ROLES",
    "ClusterKubernetes",
    "KubeQuota",
    "KubernetesBackend",
    "NoKubernetes",
    "ProjectDescription",
    "namespace_for",
    "platform_cluster_roles",
    "validate_manifest",
]
