"""Every certificate the CA issued, with its status: the DB is the revocation source."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field
from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hopsworks_api.db.base import NEVER_REUSE_IDS, Base, CreatedAtMixin, PreciseDateTime
from hopsworks_api.schemas import ApiModel


class CertKind(StrEnum):
    PROJECT_USER = "project_user"
    HOST = "host"


class CertStatus(StrEnum):
    VALID = "valid"
    REVOKED = "revoked"


class Certificate(CreatedAtMixin, Base):
    """Rows outlive their project and user (SET NULL, names kept) so CRLs stay complete."""

    __tablename__ = "certificates"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    serial: Mapped[str] = mapped_column(String(48), unique=True, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    common_name: Mapped[str] = mapped_column(String(255), index=True, nullable=False)
    project: Mapped[str | None] = mapped_column(String(63), nullable=True)
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="SET NULL"), index=True, nullable=True
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True, nullable=True
    )
    issuer: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), index=True, nullable=False)
    not_before: Mapped[datetime] = mapped_column(PreciseDateTime, nullable=False)
    not_after: Mapped[datetime] = mapped_column(PreciseDateTime, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(PreciseDateTime, nullable=True)
    revocation_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cert_pem: Mapped[str] = mapped_column(Text, nullable=False)
    key_pem: Mapped[str | None] = mapped_column(Text, nullable=True)


class Credentials(ApiModel):
    identity: str = Field(description="<project>__<user>, the certificate's CN")
    serial: str
    not_after: datetime
    certificate: str = Field(description="PEM")
    private_key: str = Field(description="PEM, PKCS#8, unencrypted")
    ca_chain: str = Field(description="PEM: issuing intermediate, then root")
    keystore: str = Field(description="PKCS#12 (certificate, key, chain), base64")
    keystore_password: str
    truststore: str = Field(description="PKCS#12 with the root CA only, base64")
    truststore_password: str


class HostCsr(ApiModel):
    csr: str = Field(max_length=20000, description="PEM certificate signing request")


class HostCertificate(ApiModel):
    common_name: str
    serial: str
    not_after: datetime
    certificate: str
    ca_chain: str


class ClientBundle(ApiModel):
    """What `hops credentials write DIR` writes: the bundle and the client configurations
    rendered for it (pki.client_configs), with the same keystore passwords."""

    credentials: Credentials
    configs: dict[str, str] = Field(
        description="file name -> content: kafka.properties, spark-defaults.conf, ..."
    )
