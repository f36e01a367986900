"""Per-project quotas with the usage counters they are enforced against."""

from __future__ import annotations

from pydantic import Field
from sqlalchemy import BigInteger, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from hopsworks_api.db.base import Base
from hopsworks_api.schemas import ApiModel


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


class Limit(ApiModel):
    limit: int | None
    usage: int
    enforced: bool


class QuotaRead(ApiModel):
    project: str
    storage_bytes: Limit
    storage_files: Limit
    hive_bytes: Limit
    compute_seconds: Limit
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
