"""The platform CA chain and the service certificate, as Secrets of the platform namespace.

`hops-ca` holds the CA chain (`ca.crt`) every client verifies servers with; `hops-tls`
(type kubernetes.io/tls) holds the certificate and key the metadata DB and Kafka serve.
"""

from __future__ import annotations

from hops_k8s import meta
from hops_k8s.config import StackConfig
from hops_k8s.objects import Manifest


def ca_secret(cfg: StackConfig) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta.metadata(meta.CA_SECRET, cfg.namespace, app="hops-pki", component="pki"),
        "type": "Opaque",
        "stringData": {"ca.crt": cfg.ca_chain},
    }


def tls_secret(cfg: StackConfig) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta.metadata(meta.TLS_SECRET, cfg.namespace, app="hops-pki", component="pki"),
        "type": "kubernetes.io/tls",
        "stringData": {
            # The leaf followed by the chain, so clients can build the path to the root.
            "tls.crt": cfg.tls.cert_pem + cfg.ca_chain,
            "tls.key": cfg.tls.key.value,
        },
    }


def ca_volume(name: str = "pki") -> dict:
    return {
        "name": name,
        "secret": {
            "secretName": meta.CA_SECRET,
            "items": [{"key": "ca.crt", "path": "ca.crt"}],
            "defaultMode": 0o444,
        },
    }
