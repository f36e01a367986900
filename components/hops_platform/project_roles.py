"""What a project member may do in the project's namespace: the ClusterRole each platform
role is bound to, and the rules of those ClusterRoles.

The control service binds members to these names (it may bind them, not create them); the
Kubernetes stack creates them with these rules. Both roles read the project's workloads and
manage its KServe InferenceServices; data owners may also read Secrets and delete pods.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

CLUSTER_ROLES: Mapping[str, str] = MappingProxyType(
    {"data_owner": "hops-data-owner", "data_scientist": "hops-data-scientist"}
)
"""Platform role (the values of `hopsworks_api.identity.Role`) -> ClusterRole name."""

_WORKLOADS: tuple[dict[str, Any], ...] = (
    {
        "apiGroups": [""],
        "resources": [
            "pods",
            "pods/log",
            "services",
            "configmaps",
            "persistentvolumeclaims",
            "events",
        ],
        "verbs": ["get", "list", "watch"],
    },
    {
        "apiGroups": ["apps"],
        "resources": ["deployments", "replicasets"],
        "verbs": ["get", "list", "watch"],
    },
    {
        "apiGroups": ["serving.kserve.io"],
        "resources": ["inferenceservices"],
        "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
    },
)
_OWNER_EXTRA: tuple[dict[str, Any], ...] = (
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["delete"]},
)
_RULES: Mapping[str, tuple[dict[str, Any], ...]] = MappingProxyType(
    {"data_owner": _WORKLOADS + _OWNER_EXTRA, "data_scientist": _WORKLOADS}
)


def cluster_role_rules() -> dict[str, list[dict[str, Any]]]:
    """{ClusterRole name: its `rules`}, fresh copies a caller may put into a manifest."""
    return {
        CLUSTER_ROLES[role]: [{key: list(value) for key, value in rule.items()} for rule in rules]
        for role, rules in _RULES.items()
    }
