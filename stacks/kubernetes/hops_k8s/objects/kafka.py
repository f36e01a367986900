"""Kafka in KRaft mode: a StatefulSet whose every broker is also a controller.

The same server.properties as the `kafka` role: every listener is TLS with client
certificates (`ssl.client.auth=required`), principals are the certificate's CN, the
StandardAuthorizer denies what no ACL allows, topics exist only through the control
service. The brokers authenticate each other with the service certificate, so its CN is the
super user. Each pod adds its own `node.id` (its ordinal) and advertised name at start, then
formats its log directory once (`kafka-storage.sh format --ignore-formatted`).
"""

from __future__ import annotations

from hops_k8s import meta
from hops_k8s.config import StackConfig
from hops_k8s.objects import Manifest, config_hash, pki

KAFKA_UID = 1000  # appuser of the apache/kafka image
CONFIG = f"{meta.KAFKA}-config"
KEYSTORE_SECRET = f"{meta.KAFKA}-keystore"
DATA_DIR = "/var/lib/kafka/data"
KEYSTORE_DIR = "/etc/hops/kafka-keystore"
PRINCIPAL_MAPPING = "RULE:^CN=([^,]+),.*$/$1/,DEFAULT"


def bootstrap_servers(cfg: StackConfig) -> str:
    return f"{meta.service_host(meta.KAFKA, cfg.namespace, cfg.cluster_domain)}:{meta.KAFKA_PORT}"


def server_properties(cfg: StackConfig) -> str:
    replication = min(3, cfg.kafka_replicas)
    min_isr = max(1, replication - 1)
    hosts = [
        meta.kafka_pod_host(i, cfg.namespace, cfg.cluster_domain) for i in range(cfg.kafka_replicas)
    ]
    voters = ",".join(f"{i}@{host}:{meta.KAFKA_CONTROLLER_PORT}" for i, host in enumerate(hosts))
    return f"""\
# Managed by hopsworks-iac (stacks/kubernetes); node.id and advertised.listeners are added
# by each pod at start.
process.roles=broker,controller
controller.quorum.voters={voters}
controller.listener.names=CONTROLLER
listeners=SSL://:{meta.KAFKA_PORT},CONTROLLER://:{meta.KAFKA_CONTROLLER_PORT}
listener.security.protocol.map=SSL:SSL,CONTROLLER:SSL
inter.broker.listener.name=SSL
ssl.client.auth=required
ssl.keystore.type=PEM
ssl.keystore.location={KEYSTORE_DIR}/keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location={meta.CA_FILE}
ssl.endpoint.identification.algorithm=https
ssl.enabled.protocols=TLSv1.3,TLSv1.2
ssl.principal.mapping.rules={PRINCIPAL_MAPPING}
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:{cfg.tls.common_name}
auto.create.topics.enable=false
num.partitions=3
default.replication.factor={replication}
min.insync.replicas={min_isr}
offsets.topic.replication.factor={replication}
transaction.state.log.replication.factor={replication}
transaction.state.log.min.isr={min_isr}
log.dirs={DATA_DIR}
log.retention.hours=168
"""


# The pod's ordinal is the suffix of its host name (hops-kafka-<n>).
START_SCRIPT = f"""\
set -eu
ordinal="${{HOSTNAME##*-}}"
cp /etc/hops/kafka/server.properties /tmp/server.properties
printf 'node.id=%s\\nadvertised.listeners=SSL://%s.%s:{meta.KAFKA_PORT}\\n' \\
  "$ordinal" "$HOSTNAME" "$KAFKA_HEADLESS_DOMAIN" >> /tmp/server.properties
/opt/kafka/bin/kafka-storage.sh format --ignore-formatted \\
  --cluster-id "$KAFKA_CLUSTER_ID" --config /tmp/server.properties
exec /opt/kafka/bin/kafka-server-start.sh /tmp/server.properties
"""


def config_map(cfg: StackConfig) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta.metadata(CONFIG, cfg.namespace, app=meta.KAFKA, component="messaging"),
        "data": {"server.properties": server_properties(cfg)},
    }


def keystore_secret(cfg: StackConfig) -> Manifest:
    """Kafka's PEM keystore is one file: the PKCS#8 key, then the certificate chain."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta.metadata(
            KEYSTORE_SECRET, cfg.namespace, app=meta.KAFKA, component="messaging"
        ),
        "type": "Opaque",
        "stringData": {
            "keystore.pem": cfg.tls.key.value.rstrip("\n") + "\n" + cfg.tls.cert_pem + cfg.ca_chain
        },
    }


def services(cfg: StackConfig) -> list[Manifest]:
    ports = [
        {"name": "ssl", "port": meta.KAFKA_PORT, "targetPort": "ssl"},
        {"name": "controller", "port": meta.KAFKA_CONTROLLER_PORT, "targetPort": "controller"},
    ]
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta.metadata(
                meta.KAFKA_HEADLESS, cfg.namespace, app=meta.KAFKA, component="messaging"
            ),
            "spec": {
                "clusterIP": "None",
                # Controllers must find each other before any of them is ready.
                "publishNotReadyAddresses": True,
                "selector": meta.selector(meta.KAFKA),
                "ports": ports,
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta.metadata(meta.KAFKA, cfg.namespace, component="messaging"),
            "spec": {
                "type": "ClusterIP",
                "selector": meta.selector(meta.KAFKA),
                "ports": ports[:1],
            },
        },
    ]


def stateful_set(cfg: StackConfig) -> Manifest:
    name = meta.KAFKA
    volume_claim = {
        "metadata": {"name": "data", "labels": meta.labels(name, "messaging")},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": cfg.kafka_storage_size}},
        },
    }
    if cfg.storage_class:
        volume_claim["spec"]["storageClassName"] = cfg.storage_class
    probe = {"tcpSocket": {"port": "ssl"}, "periodSeconds": 10, "timeoutSeconds": 5}
    container = {
        "name": "kafka",
        "image": cfg.kafka_image,
        "command": ["/bin/bash", "-c", START_SCRIPT],
        "env": [
            {"name": "KAFKA_CLUSTER_ID", "value": cfg.kafka_cluster_id},
            {
                "name": "KAFKA_HEADLESS_DOMAIN",
                "value": f"{meta.KAFKA_HEADLESS}.{cfg.namespace}.svc.{cfg.cluster_domain}",
            },
            {"name": "KAFKA_HEAP_OPTS", "value": "-Xms1g -Xmx1g"},
            {"name": "LOG_DIR", "value": f"{meta.TMP_DIR}/kafka-logs"},
        ],
        "ports": [
            {"name": "ssl", "containerPort": meta.KAFKA_PORT},
            {"name": "controller", "containerPort": meta.KAFKA_CONTROLLER_PORT},
        ],
        "readinessProbe": {**probe, "initialDelaySeconds": 10},
        "livenessProbe": {**probe, "initialDelaySeconds": 120, "failureThreshold": 6},
        "resources": cfg.resources["kafka"].manifest(),
        "securityContext": meta.container_security_context(),
        "volumeMounts": [
            {"name": "data", "mountPath": DATA_DIR},
            {"name": "config", "mountPath": "/etc/hops/kafka", "readOnly": True},
            {"name": "keystore", "mountPath": KEYSTORE_DIR, "readOnly": True},
            {"name": "pki", "mountPath": meta.PKI_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": meta.TMP_DIR},
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": meta.metadata(name, cfg.namespace, component="messaging"),
        "spec": {
            "serviceName": meta.KAFKA_HEADLESS,
            "replicas": cfg.kafka_replicas,
            # A KRaft quorum forms only when the voters start together.
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": meta.selector(name)},
            "template": {
                "metadata": {
                    "labels": meta.labels(name, "messaging"),
                    "annotations": {
                        meta.ANNOTATION_CONFIG_HASH: config_hash(config_map(cfg)["data"])
                    },
                },
                "spec": {
                    "securityContext": meta.pod_security_context(KAFKA_UID),
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": 120,
                    "affinity": {
                        "podAntiAffinity": {
                            "preferredDuringSchedulingIgnoredDuringExecution": [
                                {
                                    "weight": 100,
                                    "podAffinityTerm": {
                                        "labelSelector": {"matchLabels": meta.selector(name)},
                                        "topologyKey": "kubernetes.io/hostname",
                                    },
                                }
                            ]
                        }
                    },
                    "containers": [container],
                    "volumes": [
                        {"name": "config", "configMap": {"name": CONFIG}},
                        {
                            "name": "keystore",
                            "secret": {"secretName": KEYSTORE_SECRET, "defaultMode": 0o440},
                        },
                        pki.ca_volume(),
                        {"name": "tmp", "emptyDir": {}},
                    ],
                },
            },
            "volumeClaimTemplates": [volume_claim],
        },
    }


def objects(cfg: StackConfig) -> list[Manifest]:
    return [config_map(cfg), keystore_secret(cfg), *services(cfg), stateful_set(cfg)]
