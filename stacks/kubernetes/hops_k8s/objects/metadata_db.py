"""The metadata DB: MariaDB as a one-replica StatefulSet behind a headless Service.

The same settings as the `metadata_db` role: utf8mb4, TLS with the service certificate,
secure transport required, one schema and one account per client (the control service and
the Hive metastore). The schemas and accounts are created by the image's first-start hook
(/docker-entrypoint-initdb.d), from a Secret because the SQL holds the passwords; the hook
runs only on an empty data directory, so changing a password later is an `ALTER USER`
(docs/stacks-kubernetes.md).
"""

from __future__ import annotations

from urllib.parse import quote

from hops_k8s import meta
from hops_k8s.config import StackConfig
from hops_k8s.objects import Manifest, config_hash, pki

API_DATABASE = "hopsworks"
API_USER = "hopsworks"
HIVE_DATABASE = "metastore"
HIVE_USER = "hive"
MYSQL_UID = 999  # the mysql user of the official image
SECRET = f"{meta.METADATA_DB}-credentials"
CONFIG = f"{meta.METADATA_DB}-config"


def sql_string(value: str) -> str:
    """A MariaDB string literal (backslash and quote escaped; NO_BACKSLASH_ESCAPES is off)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def init_sql(cfg: StackConfig) -> str:
    accounts = (
        (API_USER, cfg.db_api_password.value, API_DATABASE),
        (HIVE_USER, cfg.db_hive_password.value, HIVE_DATABASE),
    )
    lines = [
        f"CREATE DATABASE IF NOT EXISTS `{API_DATABASE}` "
        "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;",
        # Hive's schema has VARCHAR(32672) columns, too long for utf8mb4 keys (hive role).
        f"CREATE DATABASE IF NOT EXISTS `{HIVE_DATABASE}` CHARACTER SET latin1;",
    ]
    for user, password, database in accounts:
        lines.append(
            f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY {sql_string(password)} "
            "REQUIRE SSL;"
        )
        lines.append(f"GRANT ALL PRIVILEGES ON `{database}`.* TO '{user}'@'%';")
    return "\n".join(lines) + "\n"


SERVER_CNF = f"""\
# Managed by hopsworks-iac (stacks/kubernetes); the metadata_db role's settings.
[mariadb]
bind-address = 0.0.0.0
port = {meta.DB_PORT}
skip-name-resolve
character-set-server = utf8mb4
collation-server = utf8mb4_bin
ssl-cert = {meta.TLS_DIR}/tls.crt
ssl-key = {meta.TLS_DIR}/tls.key
ssl-ca = {meta.CA_FILE}
tls_version = TLSv1.2,TLSv1.3
require_secure_transport = ON
"""


def database_url(cfg: StackConfig, user: str, password: str, database: str) -> str:
    """The SQLAlchemy URL of a schema, over TLS verified with the platform CA."""
    host = meta.service_host(meta.METADATA_DB, cfg.namespace, cfg.cluster_domain)
    return (
        f"mysql+pymysql://{quote(user, safe='')}:{quote(password, safe='')}@{host}:"
        f"{meta.DB_PORT}/{database}?charset=utf8mb4&ssl_ca={meta.CA_FILE}"
    )


def credentials_secret(cfg: StackConfig) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta.metadata(
            SECRET, cfg.namespace, app=meta.METADATA_DB, component="database"
        ),
        "type": "Opaque",
        "stringData": {
            "root-password": cfg.db_root_password.value,
            "01-hops-schemas.sql": init_sql(cfg),
        },
    }


def config_map(cfg: StackConfig) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta.metadata(
            CONFIG, cfg.namespace, app=meta.METADATA_DB, component="database"
        ),
        "data": {"90-hops.cnf": SERVER_CNF},
    }


def service(cfg: StackConfig) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta.metadata(meta.METADATA_DB, cfg.namespace, component="database"),
        "spec": {
            "clusterIP": "None",
            "selector": meta.selector(meta.METADATA_DB),
            "ports": [{"name": "mysql", "port": meta.DB_PORT, "targetPort": "mysql"}],
        },
    }


def stateful_set(cfg: StackConfig) -> Manifest:
    name = meta.METADATA_DB
    volume_claim = {
        "metadata": {"name": "data", "labels": meta.labels(name, "database")},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": cfg.db_storage_size}},
        },
    }
    if cfg.storage_class:
        volume_claim["spec"]["storageClassName"] = cfg.storage_class
    probe = {"tcpSocket": {"port": "mysql"}, "periodSeconds": 10, "timeoutSeconds": 5}
    container = {
        "name": "mariadb",
        "image": cfg.db_image,
        "env": [
            {
                "name": "MARIADB_ROOT_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": SECRET, "key": "root-password"}},
            },
            {"name": "MARIADB_AUTO_UPGRADE", "value": "1"},
        ],
        "ports": [{"name": "mysql", "containerPort": meta.DB_PORT}],
        "readinessProbe": {**probe, "initialDelaySeconds": 5},
        "livenessProbe": {**probe, "initialDelaySeconds": 60, "failureThreshold": 6},
        "resources": cfg.resources["metadataDb"].manifest(),
        "securityContext": meta.container_security_context(),
        "volumeMounts": [
            {"name": "data", "mountPath": "/var/lib/mysql"},
            {
                "name": "config",
                "mountPath": "/etc/mysql/conf.d/90-hops.cnf",
                "subPath": "90-hops.cnf",
            },
            {"name": "init", "mountPath": "/docker-entrypoint-initdb.d", "readOnly": True},
            {"name": "tls", "mountPath": meta.TLS_DIR, "readOnly": True},
            {"name": "pki", "mountPath": meta.PKI_DIR, "readOnly": True},
            {"name": "run", "mountPath": "/run/mysqld"},
            {"name": "tmp", "mountPath": meta.TMP_DIR},
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": meta.metadata(name, cfg.namespace, component="database"),
        "spec": {
            "serviceName": name,
            "replicas": 1,
            "selector": {"matchLabels": meta.selector(name)},
            "template": {
                "metadata": {
                    "labels": meta.labels(name, "database"),
                    "annotations": {
                        meta.ANNOTATION_CONFIG_HASH: config_hash(config_map(cfg)["data"])
                    },
                },
                "spec": {
                    "securityContext": meta.pod_security_context(MYSQL_UID),
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": 60,
                    "containers": [container],
                    "volumes": [
                        {"name": "config", "configMap": {"name": CONFIG}},
                        {
                            "name": "init",
                            "secret": {
                                "secretName": SECRET,
                                "items": [
                                    {"key": "01-hops-schemas.sql", "path": "01-hops-schemas.sql"}
                                ],
                                "defaultMode": 0o440,
                            },
                        },
                        {
                            "name": "tls",
                            "secret": {"secretName": meta.TLS_SECRET, "defaultMode": 0o440},
                        },
                        pki.ca_volume(),
                        {"name": "run", "emptyDir": {}},
                        {"name": "tmp", "emptyDir": {}},
                    ],
                },
            },
            "volumeClaimTemplates": [volume_claim],
        },
    }


def objects(cfg: StackConfig) -> list[Manifest]:
    return [credentials_secret(cfg), config_map(cfg), service(cfg), stateful_set(cfg)]
