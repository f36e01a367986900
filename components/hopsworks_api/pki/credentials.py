"""The caller's own credentials for a project: certificate, key, chain and keystores.

Spark, Kafka and Hadoop clients load PKCS#12 keystores; the passwords are random per
download and returned alongside, never stored.
"""

from __future__ import annotations

import base64
import secrets

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID
from sqlalchemy import select

from hopsworks_api.authz import Action
from hopsworks_api.db.base import utcnow
from hopsworks_api.errors import Forbidden
from hopsworks_api.pki.keys import PrivateKey, plain_key
from hopsworks_api.pki.models import Certificate, CertStatus, Credentials
from hopsworks_api.pki.service import issue_project_user
from hopsworks_api.projects import service as project_service
from hopsworks_api.runtime import Runtime
from hopsworks_api.users.models import User


def _keystores(
    key: PrivateKey, cert: x509.Certificate, chain: list[x509.Certificate], name: str
) -> tuple[bytes, str, bytes, str]:
    key_password = secrets.token_urlsafe(18)
    trust_password = secrets.token_urlsafe(18)
    keystore = pkcs12.serialize_key_and_certificates(
        name.encode(),
        key,
        cert,
        chain,
        serialization.BestAvailableEncryption(key_password.encode()),
    )
    truststore = pkcs12.serialize_java_truststore(
        [pkcs12.PKCS12Certificate(chain[-1], b"hops-root-ca")],
        serialization.BestAvailableEncryption(trust_password.encode()),
    )
    return keystore, key_password, truststore, trust_password


def _serves_tls(cert_pem: str) -> bool:
    """Whether a member's certificate may also authenticate a TLS server (a Spark driver
    serves its executors); older ones were issued for client authentication only."""
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return True  # no restriction at all
    return ExtendedKeyUsageOID.SERVER_AUTH in usages


def java_truststore(chain_pem: str) -> bytes:
    """Every certificate of a PEM chain as a trusted entry of a PKCS12 truststore without
    password: it holds public certificates only, and Java opens it with any password or
    none (Spark's RPC, whose executors open the workers' own store with the same setting)."""
    chain = x509.load_pem_x509_certificates(chain_pem.encode())
    return pkcs12.serialize_java_truststore(
        [
            pkcs12.PKCS12Certificate(cert, f"hops-ca-{number}".encode())
            for number, cert in enumerate(chain, 1)
        ],
        serialization.NoEncryption(),
    )


def credentials(rt: Runtime, *, user: User, project: str) -> Credentials:
    """The caller's own bundle for `project` (never anyone else's): a member only."""
    with rt.sessions() as session:
        access = project_service.authorize(
            session, project=project, user=user, action=Action.VIEW_PROJECT
        )
        if access.role is None:
            raise Forbidden("credentials exist only for members of the project")
        row = session.scalar(
            select(Certificate)
            .where(
                Certificate.project_id == access.project_id,
                Certificate.user_id == user.id,
                Certificate.status == CertStatus.VALID,
                Certificate.not_after > utcnow(),
            )
            .order_by(Certificate.id.desc())
        )
        if row is None or not _serves_tls(row.cert_pem):
            # e.g. expired, or issued before members' certificates served TLS: a new one
            row = issue_project_user(
                session, rt, project_id=access.project_id, project=access.project, user=user
            )
        session.commit()
    cert = x509.load_pem_x509_certificate(row.cert_pem.encode())
    assert row.key_pem is not None
    key = rt.ca.decrypt(row.key_pem.encode())
    issuer = rt.ca.intermediate(row.issuer)
    root = rt.ca.root()[1]
    keystore, key_password, truststore, trust_password = _keystores(
        key, cert, [issuer.cert, root], row.common_name
    )
    return Credentials(
        identity=row.common_name,
        serial=row.serial,
        not_after=row.not_after,
        certificate=row.cert_pem,
        private_key=plain_key(key).decode(),
        ca_chain=rt.ca.chain_for(issuer).decode(),
        keystore=base64.b64encode(keystore).decode(),
        keystore_password=key_password,
        truststore=base64.b64encode(truststore).decode(),
        truststore_password=trust_password,
    )
