"""Throwaway certificates for tests of TLS servers and Java stores: a CA, and what it
issues (a server's certificate with its IP address as a name, or another CA)."""

from __future__ import annotations

import datetime
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

Key = ec.EllipticCurvePrivateKey


def _build(
    subject: str, key: Key, issuer: x509.Certificate | None, signer: Key, ca: bool
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer is not None else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(subject))]),
            critical=False,
        )
    return builder.sign(signer, hashes.SHA256())


def issue_ca(
    name: str, parent: tuple[Key, x509.Certificate] | None = None
) -> tuple[Key, x509.Certificate]:
    """A CA: self-signed, or issued by `parent` (an intermediate)."""
    key = ec.generate_private_key(ec.SECP256R1())
    if parent is None:
        return key, _build(name, key, None, key, ca=True)
    return key, _build(name, key, parent[1], parent[0], ca=True)


def issue_server(ca_key: Key, ca: x509.Certificate, address: str) -> tuple[Key, x509.Certificate]:
    """A server's key and certificate for `address` (its only name), issued by the CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key, _build(address, key, ca, ca_key, ca=False)
