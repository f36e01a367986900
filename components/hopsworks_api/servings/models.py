"""Servings: the row (one per serving name in a project, reused by each start), and the
API's request and reply shapes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field
from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hopsworks_api.db.base import NEVER_REUSE_IDS, Base, CreatedAtMixin, PreciseDateTime
from hopsworks_api.model_registry.models import MODEL_NAME
from hopsworks_api.schemas import ApiModel

# a serving's name is part of a URL (`/servings/{name}:predict`): no ':' or '.'
SERVING_NAME = r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$"
LOG_TAIL_BYTES = 4096
MAX_INSTANCES = 16


class ServingState(StrEnum):
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"
    FAILED = "FAILED"


ACTIVE_STATES = (ServingState.STARTING, ServingState.RUNNING, ServingState.STOPPING)


class Serving(CreatedAtMixin, Base):
    """A serving of one model version. The version is named by (model, version), numbers
    the registry never gives twice; `model_registry.service.delete_version` refuses (409)
    to delete a version a serving names, so the pair always resolves while the row lives."""

    __tablename__ = "servings"
    __table_args__ = (UniqueConstraint("project_id", "name"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    model: Mapped[str] = mapped_column(String(64), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    instances: Mapped[int] = mapped_column(Integer, nullable=False)
    cores: Mapped[int] = mapped_column(Integer, nullable=False)
    memory_mb: Mapped[int] = mapped_column(Integer, nullable=False)
    gpus: Mapped[int] = mapped_column(Integer, nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    # the member whose identity the model server runs as (who started it last)
    started_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )
    # the service process running it (`rt.executions.instance`): only it reaches the sockets
    instance: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # on Kubernetes: the InferenceService's `status.url` once it is Ready; every instance
    # of the service reaches it, so any of them predicts (embedded: None, a unix socket)
    url: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(PreciseDateTime, nullable=True)
    # usage is charged up to here (while it runs too, so a crash loses one interval at most)
    charged_until: Mapped[datetime | None] = mapped_column(PreciseDateTime, nullable=True)
    stopped_at: Mapped[datetime | None] = mapped_column(PreciseDateTime, nullable=True)
    stop_reason: Mapped[str | None] = mapped_column(String(255), nullable=True)
    log_tail: Mapped[str | None] = mapped_column(Text, nullable=True)
    core_millis: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    credits: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)


class ServingResources(ApiModel):
    """Per instance."""

    cores: int = Field(default=1, ge=1, le=64)
    memory_mb: int = Field(default=1024, ge=256, le=1_048_576)
    gpus: int = Field(default=0, ge=0, le=16)


class ServingCreate(ApiModel):
    name: str = Field(pattern=SERVING_NAME, description="lower case, digits and '-'")
    model: str = Field(pattern=MODEL_NAME)
    version: int = Field(ge=1, le=2_147_483_647)  # the column is a 32-bit integer
    instances: int = Field(default=1, ge=1, le=MAX_INSTANCES)
    resources: ServingResources = Field(default_factory=ServingResources)


class ServingUsage(ApiModel):
    core_seconds: float
    credits: int


class ServingRead(ApiModel):
    name: str
    model: str
    version: int
    framework: str | None
    instances: int
    resources: ServingResources
    state: ServingState
    predict_url: str
    started_by: str | None
    started_at: datetime | None
    stopped_at: datetime | None
    stop_reason: str | None
    log_tail: str | None
    usage: ServingUsage
    created_at: datetime
