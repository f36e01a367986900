"""The platform CA chain and the service certificate, as Secrets of the platform namespace.

`hops-ca` holds the CA chain (`ca.crt`) every client verifies servers with; `hops-tls`
(type kubernetes.io/tls) holds the certificate and key the metadata DB and Kafka serve, and
that the control service presents to Kafka as a client (its CN is Kafka's super user).
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


def tls_volume(name: str = "tls") -> dict:
    """The service certificate and its key, for a pod that presents them as a client.

    The key is owner-read-only as declared. Secret files are written by the kubelet and owned
    by root, so a non-root container reads the key through the pod's `fsGroup`: the kubelet
    gives that group read access (and nothing to others). Mount it only into pods whose
    fsGroup is their own runAsGroup, and only into the containers that need the key.
    """
    return {
        "name": name,
        "secret": {
            "secretName": meta.TLS_SECRET,
            "items": [
                {"key": "tls.crt", "path": "tls.crt", "mode": 0o444},
                {"key": "tls.key", "path": "tls.key", "mode": 0o400},
            ],
            "defaultMode": 0o400,
        },
    }
