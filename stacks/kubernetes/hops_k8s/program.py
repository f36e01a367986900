"""The program: plan every object, validate them all, then create the components.

`plan` is pure (config in, manifests and Helm releases out); `deploy` validates the whole
plan before it registers the first resource, so an invalid object or a bad configuration
stops `pulumi up` (and `pulumi preview`) with nothing created.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from hops_k8s import components, meta
from hops_k8s.config import StackConfig
from hops_k8s.objects import (
    Manifest,
    api,
    hive,
    kafka,
    kserve,
    metadata_db,
    namespaces,
    network_policies,
    nvidia,
    pki,
    spark_operator,
)
from hops_k8s.objects.helm import HelmRelease
from hops_k8s.validation import validate_all


@dataclass(frozen=True)
class Plan:
    namespaces: list[Manifest]
    pki: list[Manifest]
    metadata_db: list[Manifest]
    kafka: list[Manifest]
    hive: list[Manifest]
    api: list[Manifest]
    network_policies: list[Manifest]
    nvidia: list[Manifest]
    spark_operator: HelmRelease
    kserve_releases: list[HelmRelease]
    kserve: list[Manifest]

    def manifests(self) -> list[Manifest]:
        return [
            *self.namespaces,
            *self.pki,
            *self.metadata_db,
            *self.kafka,
            *self.hive,
            *self.api,
            *self.network_policies,
            *self.nvidia,
            *self.kserve,
        ]

    def releases(self) -> list[HelmRelease]:
        return [self.spark_operator, *self.kserve_releases]


def plan(cfg: StackConfig) -> Plan:
    kserve_on = cfg.kserve_enabled
    return Plan(
        namespaces=namespaces.namespaces(cfg),
        pki=[pki.ca_secret(cfg), pki.tls_secret(cfg)],
        metadata_db=metadata_db.objects(cfg),
        kafka=kafka.objects(cfg),
        hive=hive.objects(cfg),
        api=api.objects(cfg),
        network_policies=network_policies.objects(cfg),
        nvidia=nvidia.objects(cfg),
        spark_operator=spark_operator.release(cfg),
        kserve_releases=kserve.releases(cfg) if kserve_on else [],
        kserve=[kserve.smoke_test(cfg)] if kserve_on and cfg.kserve_smoke_test else [],
    )


def deploy(cfg: StackConfig) -> dict[str, Any]:
    """Create the platform; returns the stack outputs."""
    p = plan(cfg)
    validate_all(p.manifests(), cfg.kubernetes_version)

    ns = components.Namespaces("namespaces", p.namespaces)
    after_ns = pulumi.ResourceOptions(depends_on=[ns])
    tls = components.Pki("pki", p.pki, opts=after_ns)
    after_pki = pulumi.ResourceOptions(depends_on=[ns, tls])
    db = components.MetadataDb(
        "metadata-db",
        p.metadata_db,
        host=meta.service_host(meta.METADATA_DB, cfg.namespace, cfg.cluster_domain),
        opts=after_pki,
    )
    brokers = components.Kafka(
        "kafka", p.kafka, bootstrap_servers=kafka.bootstrap_servers(cfg), opts=after_pki
    )
    metastore = components.HiveMetastore(
        "hive-metastore", p.hive, uri=hive.metastore_uri(cfg), opts=after_pki
    )
    control = components.HopsworksApi(
        "hopsworks-api",
        p.api,
        url=api.url(cfg),
        database_url=api.secret_env(cfg)["HOPS_DATABASE_URL"],
        opts=after_pki,
    )
    components.NetworkPolicies("network-policies", p.network_policies, opts=after_ns)
    components.NvidiaDevicePlugin("nvidia-device-plugin", p.nvidia)
    spark = components.SparkOperator("spark-operator", p.spark_operator, opts=after_ns)
    if cfg.kserve_enabled:
        components.KServe("kserve", p.kserve_releases, p.kserve, opts=after_ns)

    return {
        "namespace": cfg.namespace,
        "apiUrl": control.url,
        "apiDatabaseUrl": control.database_url,
        "metadataDbHost": db.host,
        "kafkaBootstrapServers": brokers.bootstrap_servers,
        "hiveMetastoreUri": metastore.uri,
        "sparkJobNamespace": spark.job_namespace,
        "tlsDnsNames": cfg.tls_dns_names(),
    }
