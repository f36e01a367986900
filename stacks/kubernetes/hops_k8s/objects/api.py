"""The control service (`hops serve --tls`) as a Deployment, configured like the bare-metal
`hopsworks_api` role: the HOPS_* settings of components/hopsworks_api/config.py, plain
ones in a ConfigMap and secret ones (DB URL with its password, JWT key, audit key, CA
passphrase) in a Secret, both read with envFrom.

State (`HOPS_DATA_DIR`: the CA, the service's own certificate, the embedded backends) lives
on a PersistentVolumeClaim; with one replica on a ReadWriteOnce volume the Deployment
recreates its pod rather than rolling (two pods cannot mount the volume on two nodes). The
service issues its own serving certificate from its CA for HOPS_TLS_HOSTNAMES. When
`caArchive` is set, an init container unpacks that CA (made by `hops ca init`) into the
volume on the first start only, so the service signs with the platform CA.

Kafka: the brokers accept TLS clients with certificates only, and the service manages topics
and ACLs for every project, so it must be a Kafka super user. It connects over SSL with the
service certificate (`hops-tls`, whose CN is the brokers' `super.users`), mounted read-only
at /etc/hops/tls in the service's container only, and verifies the brokers with the CA chain.

With `apiKubernetesBackend` the service manages project namespaces, quotas, role bindings
and certificate Secrets through the API server, as its ServiceAccount (the RBAC below), and
verifies the API server with the service account's CA bundle (SSL_CERT_FILE: the service
has no setting for that CA file).
"""

from __future__ import annotations

import json

from hops_k8s import meta
from hops_k8s.config import StackConfig
from hops_k8s.objects import Manifest, config_hash, kafka, pki
from hops_k8s.objects.metadata_db import API_DATABASE, API_USER, database_url
from hops_platform.project_roles import CLUSTER_ROLES, cluster_role_rules

API_UID = 10001
DATA_DIR = "/var/lib/hops"
CONFIG = f"{meta.API}-config"
SECRET = f"{meta.API}-secrets"
CA_SEED_SECRET = f"{meta.API}-ca-seed"
CA_SEED_DIR = "/etc/hops/ca-seed"
PVC = f"{meta.API}-data"
SERVICE_ACCOUNT = meta.API
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
RBAC = "rbac.authorization.k8s.io"

# Unpack the CA archive into the data directory unless a CA is already there. Only regular
# files and directories under ca/ are extracted (the stack checked the archive too).
SEED_SCRIPT = f"""\
import os, sys, tarfile
data = os.environ["HOPS_DATA_DIR"]
if os.path.exists(os.path.join(data, "ca", "current")):
    print("CA already present; not seeded")
    sys.exit(0)
with tarfile.open("{CA_SEED_DIR}/ca-archive.tgz", "r:gz") as tar:
    members = [
        m for m in tar.getmembers()
        if (m.isfile() or m.isdir()) and m.name.split("/")[0] == "ca"
        and ".." not in m.name.split("/") and not m.name.startswith("/")
    ]
    tar.extractall(data, members=members)
print("CA seeded from the platform CA archive")
"""


def tls_hostnames(cfg: StackConfig) -> list[str]:
    ns = cfg.namespace
    return [
        meta.API,
        f"{meta.API}.{ns}",
        f"{meta.API}.{ns}.svc",
        meta.service_host(meta.API, ns, cfg.cluster_domain),
        *cfg.api_hostnames,
    ]


def url(cfg: StackConfig) -> str:
    host = meta.service_host(meta.API, cfg.namespace, cfg.cluster_domain)
    return f"https://{host}:{meta.API_PORT}/api"


def settings_env(cfg: StackConfig) -> dict[str, str]:
    """The plain HOPS_* settings (the ConfigMap)."""
    env = {
        "HOPS_DATA_DIR": DATA_DIR,
        "HOPS_HOST": "0.0.0.0",  # noqa: S104 - the pod's address; NetworkPolicies restrict it
        "HOPS_PORT": str(meta.API_PORT),
        "HOPS_TLS_HOSTNAMES": json.dumps(tls_hostnames(cfg)),
        "HOPS_LOG_JSON": "true",
        "HOPS_STORAGE_BACKEND": "embedded",
        "HOPS_HIVE_BACKEND": "embedded",
        "HOPS_KAFKA_BACKEND": "cluster",
        "HOPS_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers(cfg),
        # The brokers' only listener is TLS with client certificates; the service
        # certificate's CN is their super user (kafka.server_properties).
        "HOPS_KAFKA_SECURITY_PROTOCOL": "SSL",
        "HOPS_KAFKA_SSL_CA_LOCATION": meta.CA_FILE,
        "HOPS_KAFKA_SSL_CERTIFICATE_LOCATION": meta.TLS_CERT_FILE,
        "HOPS_KAFKA_SSL_KEY_LOCATION": meta.TLS_KEY_FILE,
        "HOPS_COMPUTE_BACKEND": "embedded",
        "HOPS_KUBERNETES_BACKEND": "cluster" if cfg.api_kubernetes_backend else "embedded",
        "HOPS_RECONCILE_INTERVAL_SECONDS": "300",
        "HOPS_ACCOUNTING_INTERVAL_SECONDS": "60",
    }
    if cfg.api_kubernetes_backend:
        env["HOPS_KUBERNETES_URL"] = "https://kubernetes.default.svc"
        env["HOPS_KUBERNETES_TOKEN_FILE"] = f"{SA_DIR}/token"
    env.update(cfg.api_extra_env)
    return env


def secret_env(cfg: StackConfig) -> dict[str, str]:
    """The secret HOPS_* settings (the Secret)."""
    env = {
        "HOPS_DATABASE_URL": database_url(cfg, API_USER, cfg.db_api_password.value, API_DATABASE),
        "HOPS_JWT_SECRET": cfg.jwt_secret.value,
        "HOPS_AUDIT_KEY": cfg.audit_key.value,
    }
    if cfg.ca_passphrase is not None:
        env["HOPS_CA_PASSPHRASE"] = cfg.ca_passphrase.value
    return env


def _meta(name: str, cfg: StackConfig | None = None, component: str = "control-service") -> dict:
    return meta.metadata(name, cfg.namespace if cfg else None, app=meta.API, component=component)


def service_account(cfg: StackConfig) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(SERVICE_ACCOUNT, cfg),
        "automountServiceAccountToken": cfg.api_kubernetes_backend,
    }


def platform_cluster_roles() -> list[Manifest]:
    """What project members may do in their project's namespace (hops_platform.project_roles):
    the ClusterRoles the service binds members to; the service's account may bind them, not
    create them."""
    return [
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "ClusterRole",
            "metadata": meta.metadata(name, app=meta.API, component="project-roles"),
            "rules": rules,
        }
        for name, rules in cluster_role_rules().items()
    ]


def rbac(cfg: StackConfig) -> list[Manifest]:
    """The service's own rights: project namespaces and what it puts in them."""
    manage = ["get", "list", "watch", "create", "update", "patch", "delete"]
    role_name = f"{meta.API}-{cfg.namespace}"  # cluster-scoped: one per platform namespace
    role = {
        "apiVersion": f"{RBAC}/v1",
        "kind": "ClusterRole",
        "metadata": _meta(role_name),
        "rules": [
            {"apiGroups": [""], "resources": ["namespaces"], "verbs": manage},
            {"apiGroups": [""], "resources": ["resourcequotas", "secrets"], "verbs": manage},
            {"apiGroups": [RBAC], "resources": ["rolebindings"], "verbs": manage},
            {
                "apiGroups": [RBAC],
                "resources": ["clusterroles"],
                "verbs": ["bind"],
                "resourceNames": list(CLUSTER_ROLES.values()),
            },
        ],
    }
    binding = {
        "apiVersion": f"{RBAC}/v1",
        "kind": "ClusterRoleBinding",
        "metadata": _meta(role_name),
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role_name},
        "subjects": [
            {"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": cfg.namespace}
        ],
    }
    return [*platform_cluster_roles(), role, binding]


def config_map(cfg: StackConfig) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(CONFIG, cfg),
        "data": settings_env(cfg),
    }


def secret(cfg: StackConfig) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(SECRET, cfg),
        "type": "Opaque",
        "stringData": secret_env(cfg),
    }


def ca_seed_secret(cfg: StackConfig) -> Manifest | None:
    if cfg.ca_archive is None:
        return None
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(CA_SEED_SECRET, cfg),
        "type": "Opaque",
        # `data` is base64 already: the archive's bytes land in the file as they are.
        "data": {"ca-archive.tgz": cfg.ca_archive.value},
    }


def volume_claim(cfg: StackConfig) -> Manifest:
    spec: dict = {
        "accessModes": [cfg.api_storage_access_mode],
        "resources": {"requests": {"storage": cfg.api_storage_size}},
    }
    if cfg.storage_class:
        spec["storageClassName"] = cfg.storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": _meta(PVC, cfg),
        "spec": spec,
    }


def _probe(initial_delay: int, period: int, failures: int) -> dict:
    return {
        "httpGet": {"path": "/api/health", "port": "https", "scheme": "HTTPS"},
        "initialDelaySeconds": initial_delay,
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "failureThreshold": failures,
    }


def deployment(cfg: StackConfig) -> Manifest:
    name = meta.API
    mounts = [
        {"name": "data", "mountPath": DATA_DIR},
        {"name": "pki", "mountPath": meta.PKI_DIR, "readOnly": True},
        # The Kafka client certificate and key; not in the init container.
        {"name": "tls", "mountPath": meta.TLS_DIR, "readOnly": True},
        {"name": "tmp", "mountPath": meta.TMP_DIR},
    ]
    env = []
    if cfg.api_kubernetes_backend:
        env.append({"name": "SSL_CERT_FILE", "value": f"{SA_DIR}/ca.crt"})
    container = {
        "name": "hopsworks-api",
        "image": cfg.api_image,
        "command": ["hops", "serve", "--tls"],
        "envFrom": [{"configMapRef": {"name": CONFIG}}, {"secretRef": {"name": SECRET}}],
        "env": env,
        "ports": [{"name": "https", "containerPort": meta.API_PORT, "protocol": "TCP"}],
        # Migrations and the first CA run before the port opens.
        "startupProbe": _probe(5, 5, 60),
        "readinessProbe": _probe(0, 10, 3),
        "livenessProbe": _probe(0, 20, 3),
        "resources": cfg.resources["api"].manifest(),
        "securityContext": meta.container_security_context(),
        "volumeMounts": mounts,
    }
    volumes = [
        {"name": "data", "persistentVolumeClaim": {"claimName": PVC}},
        pki.ca_volume(),
        # Key mode 0400 as declared; the kubelet adds group read for fsGroup (10001, the
        # pod's own group), so uid 10001 reads it and other users cannot.
        pki.tls_volume(),
        {"name": "tmp", "emptyDir": {}},
    ]
    pod_spec: dict = {
        "serviceAccountName": SERVICE_ACCOUNT,
        "automountServiceAccountToken": cfg.api_kubernetes_backend,
        # Service links would add variables such as HOPS_KAFKA_PORT (the Services are named
        # hops-*), and the service reads every HOPS_* variable as a setting.
        "enableServiceLinks": False,
        "securityContext": meta.pod_security_context(API_UID),
        "containers": [container],
        "volumes": volumes,
    }
    if cfg.ca_archive is not None:
        volumes.append(
            {"name": "ca-seed", "secret": {"secretName": CA_SEED_SECRET, "defaultMode": 0o400}}
        )
        pod_spec["initContainers"] = [
            {
                "name": "seed-ca",
                "image": cfg.api_image,
                "command": ["python3", "-c", SEED_SCRIPT],
                "env": [{"name": "HOPS_DATA_DIR", "value": DATA_DIR}],
                "resources": cfg.resources["init"].manifest(),
                "securityContext": meta.container_security_context(),
                "volumeMounts": [
                    {"name": "data", "mountPath": DATA_DIR},
                    {"name": "ca-seed", "mountPath": CA_SEED_DIR, "readOnly": True},
                ],
            }
        ]
    shared_volume = cfg.api_storage_access_mode == "ReadWriteMany"
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(name, cfg),
        "spec": {
            "replicas": cfg.api_replicas,
            "strategy": {"type": "RollingUpdate" if shared_volume else "Recreate"},
            "selector": {"matchLabels": meta.selector(name)},
            "template": {
                "metadata": {
                    "labels": meta.labels(name, "control-service"),
                    "annotations": {meta.ANNOTATION_CONFIG_HASH: config_hash(settings_env(cfg))},
                },
                "spec": pod_spec,
            },
        },
    }


def service(cfg: StackConfig) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(meta.API, cfg),
        "spec": {
            "type": cfg.api_service_type,
            "selector": meta.selector(meta.API),
            "ports": [
                {"name": "https", "port": meta.API_PORT, "targetPort": "https", "protocol": "TCP"}
            ],
        },
    }


def objects(cfg: StackConfig) -> list[Manifest]:
    seed = ca_seed_secret(cfg)
    return [
        service_account(cfg),
        *(rbac(cfg) if cfg.api_kubernetes_backend else []),
        config_map(cfg),
        secret(cfg),
        *([seed] if seed else []),
        volume_claim(cfg),
        deployment(cfg),
        service(cfg),
    ]
