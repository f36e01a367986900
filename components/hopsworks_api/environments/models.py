"""Per-project Python environments: a row per environment, a virtualenv per build on disk.

A build is numbered per environment (`build`, counting up on every POST/PUT) and lives in
`<data dir>/environments/<project id>/<name>/<build>/`; `active_build` names the READY build
jobs and notebooks use, which a later build replaces only once it succeeded.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field
from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hopsworks_api.db.base import NEVER_REUSE_IDS, Base, CreatedAtMixin, PreciseDateTime, utcnow
from hopsworks_api.schemas import ApiModel

DEFAULT_ENVIRONMENT = "default"
ENVIRONMENT_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class BuildState(StrEnum):
    BUILDING = "BUILDING"
    READY = "READY"
    FAILED = "FAILED"


class Environment(CreatedAtMixin, Base):
    __tablename__ = "environments"
    __table_args__ = (UniqueConstraint("project_id", "name"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    requirements: Mapped[str] = mapped_column(Text, nullable=False)  # of the latest build
    state: Mapped[str] = mapped_column(String(16), nullable=False)  # of the latest build
    build: Mapped[int] = mapped_column(Integer, nullable=False)  # the latest build
    active_build: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the one in use
    lock: Mapped[str | None] = mapped_column(Text, nullable=True)  # of the active build
    # a running build touches it; one that stopped doing so was interrupted (service.reap)
    heartbeat_at: Mapped[datetime] = mapped_column(PreciseDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        PreciseDateTime, default=utcnow, onupdate=utcnow, nullable=False
    )


class EnvironmentCreate(ApiModel):
    name: str = Field(pattern=ENVIRONMENT_NAME_PATTERN)
    requirements: str = Field(
        description="requirements.txt text: one requirement specifier per line (PEP 508), "
        "comments allowed, no pip options, URLs or paths",
    )


class EnvironmentUpdate(ApiModel):
    requirements: str = Field(description="as for a new environment")


class Package(ApiModel):
    name: str
    version: str


class EnvironmentSummary(ApiModel):
    name: str
    state: BuildState


class EnvironmentRead(ApiModel):
    name: str
    state: BuildState = Field(description="of the latest build")
    build: int | None = Field(description="the latest build's number; null for `default`")
    active_build: int | None = Field(
        description="the READY build jobs and notebooks use: the latest one once it "
        "succeeded, the previous one while a rebuild runs or after it failed; null if none"
    )
    requirements: str | None
    packages: list[Package] = Field(description="installed in the active build")
    lock: str | None = Field(description="the active build's lock: pinned versions, hashes")
    log_tail: str = Field(description="the end of the latest build's log")
    created_at: datetime | None
    updated_at: datetime | None
