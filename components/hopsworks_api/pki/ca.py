"""The certificate authority on disk: a root and a series of intermediates.

Layout under `<data dir>/ca` (every private key 0600 and encrypted with the CA
passphrase; the directory 0700):

    root/key.pem root/cert.pem
    intermediates/<n>/key.pem intermediates/<n>/cert.pem intermediates/<n>/crl.pem
    current            the number of the intermediate that signs new certificates
    passphrase         only when the passphrase was generated (embedded default)

Rotation adds an intermediate and moves `current`; older intermediates keep signing
their CRLs so the certificates they issued stay valid until they expire or are revoked.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hopsworks_api.pki.keys import (
    KeyAlgorithm,
    PrivateKey,
    decrypt_key,
    encrypt_key,
    generate_key,
    signature_hash,
    write_private,
    write_public,
)
from hopsworks_api.security import secret_file_once

ROOT_DAYS = 3650
INTERMEDIATE_DAYS = 1825
CLOCK_SKEW = timedelta(minutes=5)
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


@dataclass(frozen=True)
class Intermediate:
    number: int
    key: PrivateKey
    cert: x509.Certificate
    directory: Path

    @property
    def name(self) -> str:
        return f"intermediate-{self.number}"


@dataclass(frozen=True)
class Revoked:
    serial: int
    revoked_at: datetime


def _now() -> datetime:
    return datetime.now(UTC)


def _name(common_name: str, organization: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _ca_extensions(
    builder: x509.CertificateBuilder, key: PrivateKey, issuer_key: PrivateKey, path_length: int
) -> x509.CertificateBuilder:
    return (
        builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=path_length), critical=True
        )
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Serialise CA initialisation, rotation and CRL publication across processes: the
    service's workers, the CLI, and instances on other hosts sharing the directory (flock
    reaches other hosts on NFSv4; README: Running several instances)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(directory / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def resolve_passphrase(directory: Path, configured: str | None) -> bytes:
    """The configured passphrase, or one generated once and kept 0600 beside the CA."""
    if configured:
        return configured.encode()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    return secret_file_once(directory / "passphrase").encode()


class CertificateAuthority:
    def __init__(
        self,
        directory: Path,
        passphrase: bytes,
        *,
        algorithm: KeyAlgorithm = KeyAlgorithm.ECDSA_P256,
        organization: str = "Hopsworks",
    ) -> None:
        self.directory = directory
        self._passphrase = passphrase
        self.algorithm = algorithm
        self.organization = organization
        self._root: tuple[PrivateKey, x509.Certificate] | None = None
        self._intermediates: dict[int, Intermediate] = {}

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def initialised(self) -> bool:
        return (self.directory / "current").exists()

    def init(self) -> bool:
        """Create root and first intermediate if missing; True when something was created."""
        with _locked(self.directory):
            if self.initialised:
                return False
            root_key = generate_key(self.algorithm)
            name = _name(f"{self.organization} Platform Root CA", self.organization)
            now = _now()
            builder = (
                x509.CertificateBuilder()
                .subject_name(name)
                .issuer_name(name)
                .public_key(root_key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - CLOCK_SKEW)
                .not_valid_after(now + timedelta(days=ROOT_DAYS))
            )
            root_cert = _ca_extensions(builder, root_key, root_key, 1).sign(
                root_key, signature_hash(root_key)
            )
            write_private(
                self.directory / "root" / "key.pem", encrypt_key(root_key, self._passphrase)
            )
            write_public(
                self.directory / "root" / "cert.pem",
                root_cert.public_bytes(serialization.Encoding.PEM),
            )
            self._root = (root_key, root_cert)
            self._new_intermediate(1)
            return True

    def rotate_intermediate(self) -> Intermediate:
        with _locked(self.directory):
            number = max(self._numbers(), default=0) + 1
            return self._new_intermediate(number)

    def _new_intermediate(self, number: int) -> Intermediate:
        root_key, root_cert = self.root()
        key = generate_key(self.algorithm)
        now = _now()
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(f"{self.organization} Intermediate CA {number}", self.organization))
            .issuer_name(root_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(
                min(now + timedelta(days=INTERMEDIATE_DAYS), root_cert.not_valid_after_utc)
            )
        )
        cert = _ca_extensions(builder, key, root_key, 0).sign(root_key, signature_hash(root_key))
        # Built under a staging name and renamed into place complete: another process
        # listing the intermediates never finds one without its key, certificate or CRL.
        directory = self.directory / "intermediates" / str(number)
        staging = directory.with_name(f".{number}.{secrets.token_hex(4)}")
        write_private(staging / "key.pem", encrypt_key(key, self._passphrase))
        write_public(staging / "cert.pem", cert.public_bytes(serialization.Encoding.PEM))
        intermediate = Intermediate(number, key, cert, directory)
        write_public(staging / "crl.pem", self.build_crl(intermediate, []))
        staging.rename(directory)
        write_public(self.directory / "current", str(number).encode())
        self._intermediates[number] = intermediate
        return intermediate

    # -- loading -------------------------------------------------------------------------
    def root(self) -> tuple[PrivateKey, x509.Certificate]:
        if self._root is None:
            base = self.directory / "root"
            key = decrypt_key((base / "key.pem").read_bytes(), self._passphrase)
            cert = x509.load_pem_x509_certificate((base / "cert.pem").read_bytes())
            self._root = (key, cert)
        return self._root

    def _numbers(self) -> list[int]:
        base = self.directory / "intermediates"
        if not base.exists():
            return []
        return sorted(int(p.name) for p in base.iterdir() if p.name.isdigit())

    def intermediate(self, number: int) -> Intermediate:
        if number not in self._intermediates:
            directory = self.directory / "intermediates" / str(number)
            key = decrypt_key((directory / "key.pem").read_bytes(), self._passphrase)
            cert = x509.load_pem_x509_certificate((directory / "cert.pem").read_bytes())
            self._intermediates[number] = Intermediate(number, key, cert, directory)
        return self._intermediates[number]

    def current(self) -> Intermediate:
        """Read `current` each time: a rotation by the CLI is picked up without a restart."""
        return self.intermediate(int((self.directory / "current").read_text().strip()))

    def intermediates(self) -> list[Intermediate]:
        return [self.intermediate(n) for n in self._numbers()]

    def by_issuer(self, cert: x509.Certificate) -> Intermediate | None:
        for intermediate in self.intermediates():
            if intermediate.cert.subject == cert.issuer:
                return intermediate
        return None

    # -- issuing -------------------------------------------------------------------------
    def issue(
        self,
        *,
        common_name: str,
        organization: str,
        public_key: PublicKey,
        days: int,
        client: bool = True,
        server: bool = False,
        dns_names: Sequence[str] = (),
        ip_addresses: Sequence[str] = (),
    ) -> tuple[x509.Certificate, Intermediate]:
        issuer = self.current()
        now = _now()
        not_after = min(now + timedelta(days=days), issuer.cert.not_valid_after_utc)
        usages = ([ExtendedKeyUsageOID.CLIENT_AUTH] if client else []) + (
            [ExtendedKeyUsageOID.SERVER_AUTH] if server else []
        )
        is_rsa = isinstance(public_key, rsa.RSAPublicKey)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name, organization))
            .issuer_name(issuer.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=is_rsa,
                    data_encipherment=False,
                    key_agreement=not is_rsa,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
                critical=False,
            )
        )
        names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
        names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(issuer.key, signature_hash(issuer.key))
        return cert, issuer

    def new_key(self) -> PrivateKey:
        return generate_key(self.algorithm)

    def encrypt(self, key: PrivateKey) -> bytes:
        return encrypt_key(key, self._passphrase)

    def decrypt(self, pem: bytes) -> PrivateKey:
        return decrypt_key(pem, self._passphrase)

    # -- publishing ----------------------------------------------------------------------
    def root_pem(self) -> bytes:
        return self.root()[1].public_bytes(serialization.Encoding.PEM)

    def chain_pem(self) -> bytes:
        """Every intermediate still valid, newest first, then the root."""
        now = _now()
        live = [i for i in reversed(self.intermediates()) if i.cert.not_valid_after_utc > now]
        parts = [i.cert.public_bytes(serialization.Encoding.PEM) for i in live]
        return b"".join([*parts, self.root_pem()])

    def chain_for(self, intermediate: Intermediate) -> bytes:
        return intermediate.cert.public_bytes(serialization.Encoding.PEM) + self.root_pem()

    def build_crl(self, intermediate: Intermediate, revoked: Sequence[Revoked]) -> bytes:
        now = _now()
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(intermediate.cert.subject)
            .last_update(now - CLOCK_SKEW)
            .next_update(now + timedelta(days=1))
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(intermediate.key.public_key()),
                critical=False,
            )
        )
        for entry in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(entry.serial)
                .revocation_date(entry.revoked_at.replace(tzinfo=UTC))
                .build()
            )
        crl = builder.sign(intermediate.key, signature_hash(intermediate.key))
        return crl.public_bytes(serialization.Encoding.PEM)

    def publishing(self) -> contextlib.AbstractContextManager[None]:
        """Held while a CRL is computed from the DB and written: instances sharing the CA
        directory take turns, so a writer with an older view of the revocations never
        overwrites a newer CRL."""
        return _locked(self.directory)

    def write_crl(self, intermediate: Intermediate, revoked: Sequence[Revoked]) -> None:
        write_public(intermediate.directory / "crl.pem", self.build_crl(intermediate, revoked))
