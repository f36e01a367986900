"""Jobs and executions: the rows, and the API's request and reply shapes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field
from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hopsworks_api.db.base import NEVER_REUSE_IDS, Base, CreatedAtMixin, PreciseDateTime
from hopsworks_api.schemas import ApiModel

JOB_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
ENVIRONMENT_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
# a Java class's binary name (`org.example.Main`, `Outer$Inner`): never an option of spark-submit
JAVA_CLASS = r"^[A-Za-z_$][A-Za-z0-9_$]*(\.[A-Za-z_$][A-Za-z0-9_$]*)*$"
# five cron fields (minute hour day month weekday), UTC: the shape only, croniter checks
# the values (jobs.cron)
# (ASCII classes only: JSON Schema's and Python's `\s` disagree on Unicode spaces)
CRON = r"^ *([0-9A-Za-z*/,?#-]+ +){4}[0-9A-Za-z*/,?#-]+ *$"


class JobType(StrEnum):
    PYTHON = "python"
    PYSPARK = "pyspark"
    SPARK = "spark"


class ExecutionState(StrEnum):
    INITIALIZING = "INITIALIZING"
    SUBMITTED = "SUBMITTED"
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"


ACTIVE_STATES = (ExecutionState.INITIALIZING, ExecutionState.SUBMITTED, ExecutionState.RUNNING)


class Job(CreatedAtMixin, Base):
    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("project_id", "name"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    type: Mapped[str] = mapped_column(String(16), nullable=False)
    app_path: Mapped[str] = mapped_column(String(4096), nullable=False)
    main_class: Mapped[str | None] = mapped_column(String(255), nullable=True)
    args_json: Mapped[str] = mapped_column(Text, nullable=False)
    environment: Mapped[str] = mapped_column(String(64), nullable=False)
    resources_json: Mapped[str] = mapped_column(Text, nullable=False)
    schedule: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # the schedule's next fire time (naive UTC); NULL without a schedule (jobs.schedules)
    next_run_at: Mapped[datetime | None] = mapped_column(PreciseDateTime, nullable=True, index=True)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )


class Execution(Base):
    __tablename__ = "executions"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    state: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    args_json: Mapped[str] = mapped_column(Text, nullable=False)
    submitted_at: Mapped[datetime] = mapped_column(PreciseDateTime, nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(PreciseDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(PreciseDateTime, nullable=True)
    submitted_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )
    # usage in milliseconds: integers compare exactly on both databases
    core_millis: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    gpu_millis: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    credits: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    run_handle: Mapped[str | None] = mapped_column(String(4096), nullable=True)
    # the instance (coordination.lease.instance_id) whose process runs it: only that one
    # can stop or watch it; others ask through stop_requested_at (jobs.watch)
    instance: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    stop_requested_at: Mapped[datetime | None] = mapped_column(PreciseDateTime, nullable=True)


class RunnerInstance(Base):
    """One row per live instance of the service, renewed every instance_heartbeat_seconds:
    an execution whose instance's row went stale (or whose local process is gone) died with
    it, and the lease holder fails it (jobs.service.fail_orphans). `version` is the code it
    runs, so an upgrade can tell when every instance runs the new one (`hops admin
    instances`)."""

    __tablename__ = "runner_instances"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    heartbeat_at: Mapped[datetime] = mapped_column(PreciseDateTime, nullable=False)
    version: Mapped[str | None] = mapped_column(String(128), nullable=True)


class Resources(ApiModel):
    cores: int = Field(default=1, ge=1, le=256)
    memory_mb: int = Field(default=1024, ge=64, le=4_194_304)
    gpus: int = Field(default=0, ge=0, le=64)
    executors: int = Field(default=1, ge=1, le=1000)
    executor_cores: int = Field(default=1, ge=1, le=256)
    executor_memory_mb: int = Field(default=1024, ge=64, le=4_194_304)


# 100 x 1 KiB stays well inside the JSON body limit, so a valid body is never a 413
Args = list[Annotated[str, Field(max_length=1024)]]


class JobUpdate(ApiModel):
    type: JobType = JobType.PYTHON
    app_path: str = Field(min_length=1, max_length=4096)
    main_class: str | None = Field(default=None, max_length=255, pattern=JAVA_CLASS)
    args: Args = Field(default_factory=list, max_length=100)
    environment: str = Field(default="default", pattern=ENVIRONMENT_NAME)
    resources: Resources = Field(default_factory=Resources)
    schedule: str | None = Field(default=None, max_length=255, pattern=CRON)


class JobCreate(JobUpdate):
    name: str = Field(pattern=JOB_NAME)


class JobRead(ApiModel):
    name: str
    type: JobType
    app_path: str
    main_class: str | None
    args: Args
    environment: str
    resources: Resources
    schedule: str | None
    next_run_at: datetime | None
    creator: str | None
    created_at: datetime


class ExecutionStart(ApiModel):
    args: Args | None = Field(default=None, max_length=100)


class Usage(ApiModel):
    core_seconds: float
    gpu_seconds: float
    credits: int


class ExecutionRead(ApiModel):
    id: int
    job: str
    state: ExecutionState
    exit_code: int | None
    args: Args
    submitted_by: str | None
    submitted_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None
    usage: Usage


LogStream = Literal["stdout", "stderr"]
