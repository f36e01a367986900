"""Notebook servers: the row (one per member per project, reused by each start), and the
API's request and reply shapes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field
from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hopsworks_api.db.base import NEVER_REUSE_IDS, Base, PreciseDateTime
from hopsworks_api.schemas import ApiModel

ENVIRONMENT_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
LOG_TAIL_BYTES = 4096


class NotebookState(StrEnum):
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"
    FAILED = "FAILED"


ACTIVE_STATES = (NotebookState.STARTING, NotebookState.RUNNING, NotebookState.STOPPING)


class NotebookServer(Base):
    """The member's server in the project; a new start reuses the row (its usage so far is
    charged already, so nothing is lost by overwriting it)."""

    __tablename__ = "notebook_servers"
    __table_args__ = (UniqueConstraint("project_id", "user_id"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    environment: Mapped[str] = mapped_column(String(64), nullable=False)
    idle_timeout_minutes: Mapped[int] = mapped_column(Integer, nullable=False)
    cores: Mapped[int] = mapped_column(Integer, nullable=False)
    memory_mb: Mapped[int] = mapped_column(Integer, nullable=False)
    # `<host>:<pid>` of the service process running it: only that process can reach it
    instance: Mapped[str] = mapped_column(String(255), nullable=False)
    started_at: Mapped[datetime] = mapped_column(PreciseDateTime, nullable=False)
    # Jupyter's own last activity (requests, kernels, terminals), polled by the service
    last_activity_at: Mapped[datetime | None] = mapped_column(PreciseDateTime, nullable=True)
    # usage is charged up to here (while it runs too, so a crash loses one interval at most)
    charged_until: Mapped[datetime | None] = mapped_column(PreciseDateTime, nullable=True)
    stopped_at: Mapped[datetime | None] = mapped_column(PreciseDateTime, nullable=True)
    stop_reason: Mapped[str | None] = mapped_column(String(255), nullable=True)
    log_tail: Mapped[str | None] = mapped_column(Text, nullable=True)
    core_millis: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    credits: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)


class NotebookResources(ApiModel):
    cores: int = Field(default=1, ge=1, le=256)
    memory_mb: int = Field(default=2048, ge=256, le=4_194_304)


class JupyterStart(ApiModel):
    environment: str = Field(default="default", pattern=ENVIRONMENT_NAME)
    idle_timeout_minutes: int | None = Field(
        default=None,
        ge=1,
        le=7 * 24 * 60,
        description="default: HOPS_NOTEBOOK_IDLE_TIMEOUT_MINUTES",
    )
    resources: NotebookResources = Field(default_factory=NotebookResources)


class NotebookUsage(ApiModel):
    core_seconds: float
    credits: int


class JupyterRead(ApiModel):
    user: str
    state: NotebookState
    url: str
    """The proxy: the only way to reach the server, with the member's own credentials."""
    environment: str
    idle_timeout_minutes: int
    resources: NotebookResources
    started_at: datetime
    last_activity_at: datetime | None
    stopped_at: datetime | None
    stop_reason: str | None
    log_tail: str | None
    usage: NotebookUsage
