"""The Hive metastore: the apache/hive image in its `metastore` mode, on the metadata DB.

hive-site.xml (a ConfigMap) holds the JDBC URL, driver and user, as the `hive` role's; the
password comes from a Secret through the image's documented SERVICE_OPTS variable (a
`-D` system property; Kubernetes expands `$(HIVE_DB_PASSWORD)` from the env entry before
it). The image's entrypoint creates or upgrades the schema (`schematool
-initOrUpgradeSchema`) before it starts the server. The image has no MariaDB driver: an
init container downloads MariaDB Connector/J (checked against a SHA-256 when one is set)
into a volume on HIVE_AUX_JARS_PATH, unless `hiveJdbcDriverUrl` is empty.

Thrift on 9083 is not TLS (neither is the bare-metal metastore's); NetworkPolicies admit
only the control service and Spark pods.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from hops_k8s import meta
from hops_k8s.config import StackConfig
from hops_k8s.objects import Manifest, config_hash, pki
from hops_k8s.objects.metadata_db import HIVE_DATABASE, HIVE_USER

HIVE_UID = 1000  # the hive user of the apache/hive image
CONFIG = f"{meta.HIVE_METASTORE}-config"
SECRET = f"{meta.HIVE_METASTORE}-db"
DRIVER_DIR = "/opt/hops/jdbc"
DRIVER_JAR = f"{DRIVER_DIR}/mariadb-java-client.jar"


def metastore_uri(cfg: StackConfig) -> str:
    host = meta.service_host(meta.HIVE_METASTORE, cfg.namespace, cfg.cluster_domain)
    return f"thrift://{host}:{meta.METASTORE_PORT}"


def jdbc_url(cfg: StackConfig) -> str:
    host = meta.service_host(meta.METADATA_DB, cfg.namespace, cfg.cluster_domain)
    return (
        f"jdbc:mariadb://{host}:{meta.DB_PORT}/{HIVE_DATABASE}"
        f"?useMysqlMetadata=true&sslMode=verify-full&serverSslCert={meta.CA_FILE}"
    )


def hive_site(cfg: StackConfig) -> str:
    properties = {
        "javax.jdo.option.ConnectionURL": jdbc_url(cfg),
        "javax.jdo.option.ConnectionDriverName": "org.mariadb.jdbc.Driver",
        "javax.jdo.option.ConnectionUserName": HIVE_USER,
        "datanucleus.autoCreateSchema": "false",
        "metastore.thrift.port": str(meta.METASTORE_PORT),
        "metastore.warehouse.dir": cfg.hive_warehouse_dir,
        "hive.metastore.warehouse.dir": cfg.hive_warehouse_dir,
        "metastore.schema.verification": "true",
    }
    body = "\n".join(
        f"  <property>\n    <name>{escape(k)}</name>\n    <value>{escape(v)}</value>\n  </property>"
        for k, v in properties.items()
    )
    return (
        '<?xml version="1.0"?>\n<!-- Managed by hopsworks-iac (stacks/kubernetes) -->\n'
        f"<configuration>\n{body}\n</configuration>\n"
    )


def config_map(cfg: StackConfig) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta.metadata(
            CONFIG, cfg.namespace, app=meta.HIVE_METASTORE, component="metastore"
        ),
        "data": {"hive-site.xml": hive_site(cfg)},
    }


def secret(cfg: StackConfig) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta.metadata(
            SECRET, cfg.namespace, app=meta.HIVE_METASTORE, component="metastore"
        ),
        "type": "Opaque",
        "stringData": {"password": cfg.db_hive_password.value},
    }


def service(cfg: StackConfig) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta.metadata(meta.HIVE_METASTORE, cfg.namespace, component="metastore"),
        "spec": {
            "type": "ClusterIP",
            "selector": meta.selector(meta.HIVE_METASTORE),
            "ports": [{"name": "thrift", "port": meta.METASTORE_PORT, "targetPort": "thrift"}],
        },
    }


def _driver_init_container(cfg: StackConfig) -> dict:
    check = (
        f'echo "{cfg.hive_jdbc_driver_sha256}  {DRIVER_JAR}.part" | sha256sum -c - && '
        if cfg.hive_jdbc_driver_sha256
        else ""
    )
    script = (
        f'set -eu; curl -fsSL --retry 5 -o {DRIVER_JAR}.part "$DRIVER_URL" && '
        f"{check}mv {DRIVER_JAR}.part {DRIVER_JAR}"
    )
    return {
        "name": "fetch-jdbc-driver",
        "image": cfg.hive_init_image,
        "command": ["/bin/sh", "-c", script],
        "env": [{"name": "DRIVER_URL", "value": cfg.hive_jdbc_driver_url}],
        "resources": cfg.resources["init"].manifest(),
        "securityContext": meta.container_security_context(),
        "volumeMounts": [{"name": "jdbc", "mountPath": DRIVER_DIR}],
    }


def deployment(cfg: StackConfig) -> Manifest:
    name = meta.HIVE_METASTORE
    probe = {"tcpSocket": {"port": "thrift"}, "periodSeconds": 10, "timeoutSeconds": 5}
    container = {
        "name": "metastore",
        "image": cfg.hive_image,
        "env": [
            {"name": "SERVICE_NAME", "value": "metastore"},
            {"name": "DB_DRIVER", "value": "mysql"},
            {"name": "HIVE_CUSTOM_CONF_DIR", "value": "/etc/hops/hive"},
            {"name": "HIVE_AUX_JARS_PATH", "value": DRIVER_JAR},
            {
                "name": "HIVE_DB_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": SECRET, "key": "password"}},
            },
            {
                "name": "SERVICE_OPTS",
                "value": "-Djavax.jdo.option.ConnectionPassword=$(HIVE_DB_PASSWORD)",
            },
        ],
        "ports": [{"name": "thrift", "containerPort": meta.METASTORE_PORT}],
        # Creating the schema on the first start takes a while.
        "startupProbe": {**probe, "failureThreshold": 60},
        "readinessProbe": probe,
        "livenessProbe": {**probe, "failureThreshold": 6},
        "resources": cfg.resources["hiveMetastore"].manifest(),
        # The entrypoint links HIVE_CUSTOM_CONF_DIR's files into $HIVE_HOME/conf, in the image.
        "securityContext": meta.container_security_context(read_only_root=False),
        "volumeMounts": [
            {"name": "config", "mountPath": "/etc/hops/hive", "readOnly": True},
            {"name": "jdbc", "mountPath": DRIVER_DIR, "readOnly": True},
            {"name": "pki", "mountPath": meta.PKI_DIR, "readOnly": True},
            {"name": "warehouse", "mountPath": "/opt/hive/data"},
            {"name": "tmp", "mountPath": meta.TMP_DIR},
        ],
    }
    pod_spec: dict = {
        "securityContext": meta.pod_security_context(HIVE_UID),
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "containers": [container],
        "volumes": [
            {"name": "config", "configMap": {"name": CONFIG}},
            {"name": "jdbc", "emptyDir": {}},
            pki.ca_volume(),
            {"name": "warehouse", "emptyDir": {}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }
    if cfg.hive_jdbc_driver_url:
        pod_spec["initContainers"] = [_driver_init_container(cfg)]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta.metadata(name, cfg.namespace, component="metastore"),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": meta.selector(name)},
            "template": {
                "metadata": {
                    "labels": meta.labels(name, "metastore"),
                    "annotations": {
                        meta.ANNOTATION_CONFIG_HASH: config_hash(config_map(cfg)["data"])
                    },
                },
                "spec": pod_spec,
            },
        },
    }


def objects(cfg: StackConfig) -> list[Manifest]:
    return [config_map(cfg), secret(cfg), service(cfg), deployment(cfg)]
