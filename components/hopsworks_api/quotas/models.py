"""Per-project quotas with the usage counters they are enforced against."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field
from sqlalchemy import BigInteger, Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from hopsworks_api.db.base import Base, PreciseDateTime, utcnow
from hopsworks_api.schemas import ApiModel


class ComputePayment(StrEnum):
    """PREPAID: work stops when the credits (`compute_seconds` limit) are spent.
    NOLIMIT: usage is counted and shown, never stopped (Hopsworks' two payment types)."""

    PREPAID = "PREPAID"
    NOLIMIT = "NOLIMIT"


class ProjectQuota(Base):
    """Limits are NULL for unlimited; usage counters change in the same transactions
    that reserve or release space, so concurrent uploads cannot overshoot a limit."""

    __tablename__ = "project_quotas"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    storage_bytes_limit: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    storage_files_limit: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    storage_bytes_used: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    storage_files_used: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    hive_bytes_limit: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    compute_seconds_limit: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    gpus_limit: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    kafka_topics_limit: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    compute_payment: Mapped[str] = mapped_column(
        String(16), default=ComputePayment.NOLIMIT, server_default="NOLIMIT", nullable=False
    )
    compute_seconds_used: Mapped[int] = mapped_column(
        BigInteger, default=0, server_default="0", nullable=False
    )
    hive_bytes_used: Mapped[int] = mapped_column(
        BigInteger, default=0, server_default="0", nullable=False
    )
    compute_stopped: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default="0", nullable=False
    )
    hive_writes_blocked: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default="0", nullable=False
    )


class ComputeCharge(Base):
    """What one application has been charged so far: compute systems report cumulative
    resource-seconds per application, so each poll charges only the growth since the last."""

    __tablename__ = "compute_charges"

    app_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    vcore_seconds: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    gpu_seconds: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    credits: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(PreciseDateTime, default=utcnow, nullable=False)


class Limit(ApiModel):
    limit: int | None
    usage: int
    enforced: bool


class QuotaRead(ApiModel):
    """`compute_seconds` is in credits: seconds of 1-core containers, GPU-seconds priced
    with the platform's multiplier (`gpu_credit_multiplier`)."""

    project: str
    storage_bytes: Limit
    storage_files: Limit
    hive_bytes: Limit
    compute_seconds: Limit
    compute_payment: ComputePayment
    compute_stopped: bool
    gpu_credit_multiplier: float
    gpus: Limit
    kafka_topics: Limit


MAX_LIMIT = 2**63 - 1  # BIGINT on both databases


class QuotaUpdate(ApiModel):
    """Only the keys present are changed; null means unlimited."""

    storage_bytes: int | None = Field(default=None, ge=0, le=MAX_LIMIT)
    storage_files: int | None = Field(default=None, ge=0, le=MAX_LIMIT)
    hive_bytes: int | None = Field(default=None, ge=0, le=MAX_LIMIT)
    compute_seconds: int | None = Field(default=None, ge=0, le=MAX_LIMIT)
    gpus: int | None = Field(default=None, ge=0, le=MAX_LIMIT)
    kafka_topics: int | None = Field(default=None, ge=0, le=MAX_LIMIT)
    compute_payment: ComputePayment | None = None
