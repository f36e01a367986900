"""Helpers for the Kubernetes stack's tests: a real platform CA, valid raw configuration,
the program run under Pulumi's mocks, and a small NetworkPolicy evaluator."""

from __future__ import annotations

import base64
import io
import ipaddress
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import rpc

from hops_k8s import meta
from hops_k8s.config import CONFIG_NAMESPACE

PROJECT = "hops-kubernetes"
STACK = "dev"
PASSWORDS = {
    "dbRootPassword": "root-Pa55word-'quoted'\\x",
    "dbApiPassword": "api-pa55w0rd:@/?#%",
    "dbHivePassword": "hive-pa55w0rd-123",
    "jwtSecret": "jwt-secret-0123456789-abcdefghij-KLMNOP",
    "auditKey": "audit-key-0123456789-abcdefghij-KLMNOP",
}


@dataclass(frozen=True)
class Pki:
    """A CA made by the control service's own CA code (what `hops ca init` runs) and a
    service certificate issued by it (what `hops ca host-cert` writes)."""

    chain: str
    cert: str
    key: str
    archive_b64: str
    root_dir: Path


def make_pki(tmp: Path, dns_names: list[str], passphrase: bytes = b"ca-passphrase-1") -> Pki:
    from hopsworks_api.pki.ca import CertificateAuthority
    from hopsworks_api.pki.keys import plain_key

    data_dir = tmp / "hops-ca"
    ca = CertificateAuthority(data_dir / "ca", passphrase)
    ca.init()
    key = ca.new_key()
    cert, issuer = ca.issue(
        common_name=dns_names[0],
        organization="Hopsworks",
        public_key=key.public_key(),
        days=30,
        client=True,
        server=True,
        dns_names=dns_names,
    )
    from cryptography.hazmat.primitives import serialization

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:  # tar czf - -C hops-ca ca
        tar.add(data_dir / "ca", arcname="ca")
    return Pki(
        chain=ca.chain_for(issuer).decode(),
        cert=cert.public_bytes(serialization.Encoding.PEM).decode(),
        key=plain_key(key).decode(),
        archive_b64=base64.b64encode(buffer.getvalue()).decode(),
        root_dir=data_dir,
    )


def base_config(pki: Pki, **overrides: str) -> dict[str, str]:
    """Every required key, valid; secrets included."""
    raw = {
        "apiImage": "registry.example.org/hops/hopsworks-api:0.1.0",
        "caChain": pki.chain,
        "tlsCert": pki.cert,
        "tlsKey": pki.key,
        "caArchive": pki.archive_b64,
        "caPassphrase": "ca-passphrase-1",
        **PASSWORDS,
    }
    raw.update(overrides)
    return raw


SECRET_KEYS = {"tlsKey", "caArchive", "caPassphrase", *PASSWORDS}


# -- Pulumi's mocks -------------------------------------------------------------------------


@dataclass
class Registered:
    type: str
    name: str
    inputs: dict[str, Any]  # as the monitor received them: secrets still wrapped
    custom: bool

    @property
    def plain(self) -> dict[str, Any]:
        return unwrap(self.inputs)[0]

    @property
    def kind(self) -> str:
        return self.type.rsplit(":", 1)[-1]


def _integral(value: Any) -> Any:
    # Numbers cross the monitor's protobuf as floats; the provider sends JSON integers.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def unwrap(value: Any) -> tuple[Any, bool]:
    """(value without secret markers, whether any part of it was secret)."""
    if rpc.is_rpc_secret(value):
        inner, _ = unwrap(rpc.unwrap_rpc_secret(value))
        return inner, True
    if isinstance(value, dict):
        out, secret = {}, False
        for k, v in value.items():
            out[k], s = unwrap(v)
            secret = secret or s
        return out, secret
    if isinstance(value, list):
        items = [unwrap(v) for v in value]
        return [i for i, _ in items], any(s for _, s in items)
    return _integral(value), False


class Recorder(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[Registered] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        self.resources.append(Registered(args.typ, args.name, dict(args.inputs), bool(args.custom)))
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list]:
        return {}, []

    def custom(self) -> list[Registered]:
        return [r for r in self.resources if r.custom]

    def of_kind(self, kind: str) -> list[Registered]:
        return [r for r in self.custom() if r.kind == kind]

    def one(self, kind: str, name: str) -> Registered:
        found = [r for r in self.of_kind(kind) if r.plain.get("metadata", {}).get("name") == name]
        assert len(found) == 1, f"{len(found)} {kind} named {name}"
        return found[0]


@dataclass
class Run:
    recorder: Recorder
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)
    urns: list[str] = field(default_factory=list)


def run_program(
    raw: Mapping[str, str], secret_keys: set[str] | None = None, recorder: Recorder | None = None
) -> Run:
    """Set fresh mocks and this project's config, run the program as `pulumi up` would
    (preview=False: every output resolves), wait for every registration. The stack file
    the program checks holds `raw`, `secret_keys` of it encrypted."""
    from hops_k8s.config import read_config
    from hops_k8s.program import deploy
    from hops_stack.pulumi_config import StackFile

    recorder = Recorder() if recorder is None else recorder
    monitor = pulumi.runtime.mocks.MockMonitor(recorder)
    pulumi.runtime.set_mocks(recorder, project=PROJECT, stack=STACK, preview=False, monitor=monitor)
    secret_keys = SECRET_KEYS if secret_keys is None else secret_keys
    pulumi.runtime.set_all_config(
        {f"{CONFIG_NAMESPACE}:{k}": v for k, v in raw.items()},
        secret_keys=[f"{CONFIG_NAMESPACE}:{k}" for k in raw if k in secret_keys],
    )
    stack_file = StackFile(frozenset(raw), frozenset(k for k in raw if k in secret_keys))
    run = Run(recorder)

    @pulumi.runtime.test
    def program() -> pulumi.Output:
        cfg = read_config(stack_file=stack_file)
        outputs = {k: pulumi.Output.from_input(v) for k, v in deploy(cfg).items()}

        async def secrets() -> None:
            for key, value in outputs.items():
                if await value.is_secret():
                    run.secret_outputs.add(key)

        def resolved(values: dict[str, Any]) -> None:
            run.outputs.update(values)

        return pulumi.Output.all(
            pulumi.Output.from_input(secrets()), pulumi.Output.all(**outputs).apply(resolved)
        )

    program()
    run.urns = list(monitor.resources)
    return run


# -- NetworkPolicy semantics (networking.k8s.io/v1) -------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    namespace: str | None  # None: outside the cluster
    labels: Mapping[str, str] = field(default_factory=dict)
    ip: str = "10.1.2.3"


def _selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    if selector is None:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _peer_matches(peer: Mapping[str, Any], policy_ns: str, other: Endpoint) -> bool:
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        address = ipaddress.ip_address(other.ip)
        inside = address in ipaddress.ip_network(block["cidr"])
        return inside and not any(
            address in ipaddress.ip_network(e) for e in block.get("except", [])
        )
    if other.namespace is None:
        return False
    if "namespaceSelector" in peer:
        ns_labels = {"kubernetes.io/metadata.name": other.namespace}
        if not _selects(peer["namespaceSelector"], ns_labels):
            return False
    elif other.namespace != policy_ns:
        return False
    return _selects(peer.get("podSelector"), other.labels)


def _rule_admits(
    rule: Mapping[str, Any],
    peers_key: str,
    policy_ns: str,
    other: Endpoint,
    port: int,
    protocol: str,
) -> bool:
    peers = rule.get(peers_key)
    if peers and not any(_peer_matches(p, policy_ns, other) for p in peers):
        return False
    ports = rule.get("ports")
    return not ports or any(
        p.get("port") in (None, port) and (p.get("protocol") or "TCP") == protocol for p in ports
    )


def _direction_allows(
    policies: list[Mapping[str, Any]],
    direction: str,
    subject: Endpoint,
    other: Endpoint,
    port: int,
    protocol: str,
) -> bool:
    kind, rules_key, peers_key = (
        ("Ingress", "ingress", "from") if direction == "in" else ("Egress", "egress", "to")
    )
    selecting = [
        p
        for p in policies
        if p["metadata"]["namespace"] == subject.namespace
        and kind in p["spec"].get("policyTypes", [])
        and _selects(p["spec"].get("podSelector"), subject.labels)
    ]
    if not selecting:
        return True  # not isolated in this direction
    return any(
        _rule_admits(rule, peers_key, p["metadata"]["namespace"], other, port, protocol)
        for p in selecting
        for rule in p["spec"].get(rules_key) or []
    )


def connection_allowed(
    policies: list[Mapping[str, Any]],
    src: Endpoint,
    dst: Endpoint,
    port: int,
    protocol: str = "TCP",
) -> bool:
    egress_ok = src.namespace is None or _direction_allows(
        policies, "out", src, dst, port, protocol
    )
    ingress_ok = dst.namespace is None or _direction_allows(
        policies, "in", dst, src, port, protocol
    )
    return egress_ok and ingress_ok


def pod(namespace: str, name: str, **extra: str) -> Endpoint:
    return Endpoint(namespace, {**meta.selector(name), **extra})
