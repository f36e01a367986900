"""Certificate use cases: issue, revoke, publish CRLs, hand out credentials, sign CSRs,
and authenticate a TLS client by its certificate.

Issuing and revoking happen inside the caller's DB transaction (a member added without a
certificate, or removed with a valid one, cannot be committed); CRLs are rewritten from
the DB after the commit, so they can always be regenerated and never disagree with it.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Iterable
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from hopsworks_api.clock import naive_utc
from hopsworks_api.db.base import utcnow
from hopsworks_api.errors import BadRequest, Forbidden, Unauthorized
from hopsworks_api.identity import project_user
from hopsworks_api.pki.ca import Intermediate, Revoked
from hopsworks_api.pki.keys import plain_key
from hopsworks_api.pki.models import (
    Certificate,
    CertKind,
    CertStatus,
    HostCertificate,
)
from hopsworks_api.runtime import Runtime
from hopsworks_api.users.models import User

HOSTNAME_RE = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _record(
    cert: x509.Certificate,
    issuer: Intermediate,
    *,
    kind: CertKind,
    project: str | None = None,
    project_id: int | None = None,
    user_id: int | None = None,
    key_pem: bytes | None = None,
) -> Certificate:
    return Certificate(
        serial=format(cert.serial_number, "x"),
        kind=kind,
        common_name=cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value,
        project=project,
        project_id=project_id,
        user_id=user_id,
        issuer=issuer.number,
        status=CertStatus.VALID,
        not_before=naive_utc(cert.not_valid_before_utc),
        not_after=naive_utc(cert.not_valid_after_utc),
        cert_pem=_pem(cert),
        key_pem=key_pem.decode() if key_pem else None,
    )


# -- project-user certificates -------------------------------------------------------------
def prepare_project_user(rt: Runtime, *, project: str, user: User) -> Certificate:
    """Make the key and certificate `CN=<project>__<user>, O=<project>` before any DB lock
    is taken (key generation and key encryption are the slow part); the row is recorded by
    the caller's transaction, and an unrecorded certificate authenticates nobody."""
    key = rt.ca.new_key()
    # server authentication too: a Spark driver started as the member serves its
    # executors over TLS with this certificate (docs/decisions.md)
    cert, issuer = rt.ca.issue(
        common_name=project_user(project, user.username),
        organization=project,
        public_key=key.public_key(),
        days=rt.settings.cert_validity_days,
        server=True,
    )
    return _record(
        cert,
        issuer,
        kind=CertKind.PROJECT_USER,
        project=project,
        user_id=user.id,
        key_pem=rt.ca.encrypt(key),
    )


def record_project_user(session: Session, row: Certificate, *, project_id: int) -> Certificate:
    row.project_id = project_id
    session.add(row)
    return row


def issue_project_user(
    session: Session, rt: Runtime, *, project_id: int, project: str, user: User
) -> Certificate:
    """Prepare and record in one go, for callers already inside a transaction."""
    row = prepare_project_user(rt, project=project, user=user)
    return record_project_user(session, row, project_id=project_id)


_VALID_BY_USERNAME = (  # built once: provisioning loads it for every project it converges
    select(User.username, Certificate)
    .join(Certificate, Certificate.user_id == User.id)
    .where(
        Certificate.project_id == bindparam("project_id"),
        Certificate.kind == CertKind.PROJECT_USER,
        Certificate.status == CertStatus.VALID,
        Certificate.not_after > bindparam("now"),
    )
    .order_by(Certificate.id)
)


def valid_by_username(session: Session, *, project_id: int) -> dict[str, Certificate]:
    """Each member's newest valid, unexpired certificate in the project (what their Secrets
    hold: provisioning's desired state)."""
    params = {"project_id": project_id, "now": utcnow()}
    return dict(session.execute(_VALID_BY_USERNAME, params).all())


def revoke(session: Session, *, reason: str, **match: int) -> set[int]:
    """Revoke every valid certificate matching `project_id`/`user_id`; return the issuers
    whose CRL must be rewritten once the transaction commits."""
    where = [Certificate.status == CertStatus.VALID]
    where += [getattr(Certificate, column) == value for column, value in match.items()]
    issuers = set(session.scalars(select(Certificate.issuer).where(*where)).all())
    if issuers:
        session.execute(
            update(Certificate)
            .where(*where)
            .values(status=CertStatus.REVOKED, revoked_at=utcnow(), revocation_reason=reason)
        )
    return issuers


def _revoked(session: Session, issuer: int, now: datetime) -> list[Revoked]:
    rows = session.execute(
        select(Certificate.serial, Certificate.revoked_at).where(
            Certificate.issuer == issuer,
            Certificate.status == CertStatus.REVOKED,
            Certificate.not_after > now,
        )
    ).all()
    return [Revoked(int(serial, 16), at or now) for serial, at in rows]


def publish_crls(rt: Runtime, issuers: Iterable[int]) -> None:
    """Rewrite the CRL file of each intermediate from the DB (idempotent; safe to repeat),
    for the services on this host that read it from disk."""
    now = utcnow()
    with rt.ca.publishing(), rt.read_sessions() as session:
        for number in sorted(set(issuers)):
            rt.ca.write_crl(rt.ca.intermediate(number), _revoked(session, number, now))


def publish_all_crls(rt: Runtime) -> None:
    publish_crls(rt, (i.number for i in rt.ca.intermediates()))


# -- TLS client authentication ---------------------------------------------------------------
def authenticate_client(rt: Runtime, *, cert_pem: str) -> tuple[User, str]:
    """Map a client certificate (already chain-verified by the TLS handshake) to the user
    and the one project it is valid for. The DB status is checked on every request, so a
    revocation takes effect on the very next request."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
    except ValueError as exc:
        raise Unauthorized("unreadable client certificate", code="invalid_certificate") from exc
    with rt.read_sessions() as session:
        row = session.scalar(
            select(Certificate).where(Certificate.serial == format(cert.serial_number, "x"))
        )
        if row is None or row.cert_pem.strip() != _pem(cert).strip():
            raise Unauthorized(
                "certificate not issued by this platform", code="invalid_certificate"
            )
        if row.status != CertStatus.VALID:
            raise Unauthorized("certificate has been revoked", code="certificate_revoked")
        if row.not_after <= utcnow():
            raise Unauthorized("certificate has expired", code="certificate_expired")
        if row.kind != CertKind.PROJECT_USER or row.user_id is None or row.project is None:
            raise Unauthorized("not a project-user certificate", code="invalid_certificate")
        user = session.get(User, row.user_id)
        if user is None or not user.is_active:
            raise Unauthorized(
                "the certificate's account no longer exists", code="invalid_certificate"
            )
        return user, row.project


# -- host certificates -------------------------------------------------------------------------
def _check_hostname(name: str, patterns: list[str] | None) -> None:
    if "__" in name:
        raise Forbidden(f"'{name}' is in the project-user namespace and cannot be a host")
    if not HOSTNAME_RE.fullmatch(name):
        raise BadRequest(f"'{name}' is not a valid host name")
    if patterns is not None and not any(fnmatch.fnmatchcase(name, p) for p in patterns):
        raise Forbidden(f"this agent key may not request a certificate for '{name}'")


def _names(csr: x509.CertificateSigningRequest) -> tuple[str, list[str], list[str]]:
    cns = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(cns) != 1:
        raise BadRequest("the CSR must have exactly one common name (the host name)")
    common_name = str(cns[0].value).lower()
    dns: list[str] = []
    ips: list[str] = []
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = [n.lower() for n in san.get_values_for_type(x509.DNSName)]
        ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        pass
    if common_name not in dns:
        dns.insert(0, common_name)
    return common_name, dns, ips


def _check_key(public_key: object) -> ec.EllipticCurvePublicKey | rsa.RSAPublicKey:
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if public_key.curve.key_size < 256:
            raise BadRequest("EC keys must be P-256 or stronger")
        return public_key
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < 2048:
            raise BadRequest("RSA keys must be at least 2048 bits")
        return public_key
    raise BadRequest("only EC and RSA keys are accepted")


def sign_host_csr(rt: Runtime, *, csr_pem: str, agent_hosts: list[str] | None) -> HostCertificate:
    """Sign a service host's CSR (server and client auth). Admins may name any host; an
    agent key only the hosts its patterns allow; nobody a `<project>__<user>` name."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
    except ValueError as exc:
        raise BadRequest("not a PEM certificate signing request", code="bad_csr") from exc
    try:
        if not csr.is_signature_valid:
            raise BadRequest("the CSR's signature does not verify", code="bad_csr")
    except InvalidSignature as exc:  # pragma: no cover - older cryptography versions
        raise BadRequest("the CSR's signature does not verify", code="bad_csr") from exc
    public_key = _check_key(csr.public_key())
    common_name, dns, ips = _names(csr)
    for name in dns:
        _check_hostname(name, agent_hosts)
    for ip in ips:
        if agent_hosts is not None and not any(fnmatch.fnmatchcase(ip, p) for p in agent_hosts):
            raise Forbidden(f"this agent key may not request a certificate for {ip}")
    return _issue_host(rt, common_name=common_name, public_key=public_key, dns=dns, ips=ips)


def _issue_host(
    rt: Runtime,
    *,
    common_name: str,
    public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
    dns: list[str],
    ips: list[str],
) -> HostCertificate:
    cert, issuer = rt.ca.issue(
        common_name=common_name,
        organization=rt.settings.ca_organization,
        public_key=public_key,
        days=rt.settings.cert_validity_days,
        client=True,
        server=True,
        dns_names=dns,
        ip_addresses=ips,
    )
    with rt.sessions() as session:
        row = _record(cert, issuer, kind=CertKind.HOST)
        session.add(row)
        session.commit()
    return HostCertificate(
        common_name=common_name,
        serial=row.serial,
        not_after=row.not_after,
        certificate=row.cert_pem,
        ca_chain=rt.ca.chain_for(issuer).decode(),
    )


def host_key_and_certificate(
    rt: Runtime,
    *,
    hostname: str,
    ips: list[str],
    extra_names: list[str] = (),  # type: ignore[assignment]
) -> tuple[bytes, HostCertificate]:
    """For `hops ca host-cert` and `hops serve --tls`: a new key and its certificate."""
    names = [hostname.lower(), *[n.lower() for n in extra_names if n.lower() != hostname.lower()]]
    for name in names:
        _check_hostname(name, None)
    for ip in ips:
        ipaddress.ip_address(ip)
    key = rt.ca.new_key()
    bundle = _issue_host(rt, common_name=names[0], public_key=key.public_key(), dns=names, ips=ips)
    return plain_key(key), bundle


def chain(rt: Runtime) -> bytes:
    return rt.ca.chain_pem()


def crls(rt: Runtime) -> bytes:
    """Signed from the DB on every read, not read from this instance's files: every
    instance serves the same current list even where each keeps its own CA directory
    (Kubernetes replicas seeded from one archive), and it never goes past `next_update`."""
    now = utcnow()
    with rt.read_sessions() as session:
        return b"".join(
            rt.ca.build_crl(intermediate, _revoked(session, intermediate.number, now))
            for intermediate in rt.ca.intermediates()
        )
