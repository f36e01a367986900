"""NetworkPolicies of the platform namespace: deny everything, then allow the platform's
own flows, each in both directions (an egress rule on the client, an ingress rule on the
server), so nothing depends on another namespace's policies.

Allowed, and nothing else:

| from                                  | to                 | port        |
|---------------------------------------|--------------------|-------------|
| every pod of the namespace            | cluster DNS        | 53 UDP/TCP  |
| apiAllowedCidrs (empty: anywhere)     | control service    | 8181        |
| control service, Hive metastore       | metadata DB        | 3306        |
| control service, Spark pods           | Kafka              | 9093        |
| Kafka brokers                         | Kafka brokers      | 9093, 9094  |
| control service, Spark pods           | Hive metastore     | 9083        |
| control service                       | apiEgressCidrs     | any         |
| Hive metastore (driver download only) | anywhere           | 443         |

Spark pods are those with a `spark-role` label in the Spark job namespace. Kubelet probes
are not subject to NetworkPolicies. Enforcement is the CNI plugin's: on a cluster whose CNI
does not implement NetworkPolicy these objects are accepted and have no effect.
"""

from __future__ import annotations

from typing import Any

from hops_k8s import meta
from hops_k8s.config import StackConfig
from hops_k8s.objects import Manifest

DEFAULT_DENY = "default-deny"


def _policy(cfg: StackConfig, name: str, spec: dict[str, Any]) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta.metadata(
            name, cfg.namespace, app="hops-network", component="network-policy"
        ),
        "spec": spec,
    }


def _pods(name: str) -> dict[str, Any]:
    return {"podSelector": {"matchLabels": meta.selector(name)}}


def _spark_pods(cfg: StackConfig) -> dict[str, Any]:
    return {
        "namespaceSelector": {
            "matchLabels": {"kubernetes.io/metadata.name": cfg.spark_job_namespace}
        },
        "podSelector": {
            "matchExpressions": [
                {"key": meta.SPARK_ROLE_LABEL, "operator": "In", "values": ["driver", "executor"]}
            ]
        },
    }


def _tcp(*ports: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": p} for p in ports]


def default_deny(cfg: StackConfig) -> Manifest:
    return _policy(cfg, DEFAULT_DENY, {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})


def dns_egress(cfg: StackConfig) -> Manifest:
    return _policy(
        cfg,
        "allow-dns-egress",
        {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                            },
                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                        }
                    ],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                }
            ],
        },
    )


def api_policies(cfg: StackConfig) -> list[Manifest]:
    ingress: dict[str, Any] = {"ports": _tcp(meta.API_PORT)}
    if cfg.api_allowed_cidrs:
        ingress["from"] = [{"ipBlock": {"cidr": c}} for c in cfg.api_allowed_cidrs]
    egress: list[dict[str, Any]] = [
        {"to": [_pods(meta.METADATA_DB)], "ports": _tcp(meta.DB_PORT)},
        {"to": [_pods(meta.KAFKA)], "ports": _tcp(meta.KAFKA_PORT)},
        {"to": [_pods(meta.HIVE_METASTORE)], "ports": _tcp(meta.METASTORE_PORT)},
    ]
    if cfg.api_egress_cidrs:
        egress.append({"to": [{"ipBlock": {"cidr": c}} for c in cfg.api_egress_cidrs]})
    return [
        _policy(
            cfg,
            f"{meta.API}-ingress",
            {**_pods(meta.API), "policyTypes": ["Ingress"], "ingress": [ingress]},
        ),
        _policy(
            cfg,
            f"{meta.API}-egress",
            {**_pods(meta.API), "policyTypes": ["Egress"], "egress": egress},
        ),
    ]


def metadata_db_policies(cfg: StackConfig) -> list[Manifest]:
    return [
        _policy(
            cfg,
            f"{meta.METADATA_DB}-ingress",
            {
                **_pods(meta.METADATA_DB),
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [_pods(meta.API), _pods(meta.HIVE_METASTORE)],
                        "ports": _tcp(meta.DB_PORT),
                    }
                ],
            },
        )
    ]


def kafka_policies(cfg: StackConfig) -> list[Manifest]:
    return [
        _policy(
            cfg,
            f"{meta.KAFKA}-ingress",
            {
                **_pods(meta.KAFKA),
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [_pods(meta.API), _spark_pods(cfg)],
                        "ports": _tcp(meta.KAFKA_PORT),
                    },
                    {
                        "from": [_pods(meta.KAFKA)],
                        "ports": _tcp(meta.KAFKA_PORT, meta.KAFKA_CONTROLLER_PORT),
                    },
                ],
            },
        ),
        _policy(
            cfg,
            f"{meta.KAFKA}-egress",
            {
                **_pods(meta.KAFKA),
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [_pods(meta.KAFKA)],
                        "ports": _tcp(meta.KAFKA_PORT, meta.KAFKA_CONTROLLER_PORT),
                    }
                ],
            },
        ),
    ]


def hive_policies(cfg: StackConfig) -> list[Manifest]:
    egress: list[dict[str, Any]] = [{"to": [_pods(meta.METADATA_DB)], "ports": _tcp(meta.DB_PORT)}]
    if cfg.hive_jdbc_driver_url:
        egress.append({"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": _tcp(443)})
    return [
        _policy(
            cfg,
            f"{meta.HIVE_METASTORE}-ingress",
            {
                **_pods(meta.HIVE_METASTORE),
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [_pods(meta.API), _spark_pods(cfg)],
                        "ports": _tcp(meta.METASTORE_PORT),
                    }
                ],
            },
        ),
        _policy(
            cfg,
            f"{meta.HIVE_METASTORE}-egress",
            {**_pods(meta.HIVE_METASTORE), "policyTypes": ["Egress"], "egress": egress},
        ),
    ]


def objects(cfg: StackConfig) -> list[Manifest]:
    return [
        default_deny(cfg),
        dns_egress(cfg),
        *api_policies(cfg),
        *metadata_db_policies(cfg),
        *kafka_policies(cfg),
        *hive_policies(cfg),
    ]
