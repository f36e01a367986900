"""Names, ports and labels shared by every component, derived in one place.

Every object carries `app.kubernetes.io/name`, `app.kubernetes.io/part-of: hopsworks` and
`app.kubernetes.io/managed-by: pulumi`; pods are selected by name and part-of only (the
selector of a Deployment or StatefulSet is immutable, so it holds no label that may change).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# The API server's name rules (k8s.io/apimachinery/pkg/util/validation).
DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")  # RFC 1123 label, <= 63
DNS_1035_LABEL_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")  # Service names, <= 63
DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_KEY_RE = re.compile(
    r"^(?:(?P<prefix>[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)/)?"
    r"(?P<name>[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$"
)
LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

PART_OF = "hopsworks"
MANAGED_BY = "pulumi"
LABEL_NAME = "app.kubernetes.io/name"
LABEL_PART_OF = "app.kubernetes.io/part-of"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_VERSION = "app.kubernetes.io/version"
# Marks the namespace whose pods the platform's NetworkPolicies govern.
LABEL_ROLE = "hops.io/namespace-role"
ANNOTATION_CONFIG_HASH = "hops.io/config-hash"

API = "hops-api"
METADATA_DB = "hops-metadata-db"
KAFKA = "hops-kafka"
KAFKA_HEADLESS = "hops-kafka-headless"
HIVE_METASTORE = "hops-hive-metastore"
NVIDIA_DEVICE_PLUGIN = "nvidia-device-plugin"
NVIDIA_NAMESPACE = "kube-system"
CA_SECRET = "hops-ca"  # noqa: S105 - the name of a Secret object
TLS_SECRET = "hops-tls"  # noqa: S105 - the name of a Secret object
# Containers run with read-only root filesystems; /tmp is an emptyDir in each of them.
TMP_DIR = "/tmp"  # noqa: S108 - a path inside the container

API_PORT = 8181
DB_PORT = 3306
KAFKA_PORT = 9093
KAFKA_CONTROLLER_PORT = 9094
METASTORE_PORT = 9083

# Where the platform CA chain (`ca.crt`) and the service certificate are mounted.
PKI_DIR = "/etc/hops/pki"
CA_FILE = f"{PKI_DIR}/ca.crt"
TLS_DIR = "/etc/hops/tls"
TLS_CERT_FILE = f"{TLS_DIR}/tls.crt"  # the leaf followed by the chain
TLS_KEY_FILE = f"{TLS_DIR}/tls.key"

GPU_RESOURCE = "nvidia.com/gpu"
GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_TAINT_EFFECT = "NoSchedule"

# Spark on Kubernetes labels every driver and executor pod with `spark-role`.
SPARK_ROLE_LABEL = "spark-role"


def labels(name: str, component: str | None = None, version: str | None = None) -> dict[str, str]:
    out = {LABEL_NAME: name, LABEL_PART_OF: PART_OF, LABEL_MANAGED_BY: MANAGED_BY}
    if component:
        out[LABEL_COMPONENT] = component
    if version:
        out[LABEL_VERSION] = version
    return out


def selector(name: str) -> dict[str, str]:
    return {LABEL_NAME: name, LABEL_PART_OF: PART_OF}


def metadata(
    name: str,
    namespace: str | None = None,
    *,
    app: str | None = None,
    component: str | None = None,
    extra_labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "labels": {**labels(app or name, component), **(extra_labels or {})},
    }
    if namespace:
        meta["namespace"] = namespace
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def service_host(service: str, namespace: str, cluster_domain: str) -> str:
    return f"{service}.{namespace}.svc.{cluster_domain}"


def kafka_pod_host(ordinal: int, namespace: str, cluster_domain: str) -> str:
    return f"{KAFKA}-{ordinal}.{KAFKA_HEADLESS}.{namespace}.svc.{cluster_domain}"


def tls_dns_names(namespace: str, cluster_domain: str, kafka_replicas: int) -> list[str]:
    """The DNS names the service certificate (`tlsCert`) must carry: the names clients of
    the metadata DB and of Kafka connect to, and every broker's advertised name (brokers
    verify each other's host names). The first one is a good common name."""
    return [
        service_host(METADATA_DB, namespace, cluster_domain),
        service_host(KAFKA, namespace, cluster_domain),
        *(kafka_pod_host(i, namespace, cluster_domain) for i in range(kafka_replicas)),
    ]


def pod_security_context(uid: int, gid: int | None = None) -> dict[str, Any]:
    """Pod-level settings of the `restricted` Pod Security Standard, with a fixed user."""
    gid = uid if gid is None else gid
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": gid,
        "fsGroup": gid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context(*, read_only_root: bool = True) -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": read_only_root,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
