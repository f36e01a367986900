"""The compute contract: one scheduler queue per project, with a capacity share and a quota.

It is phrased the way YARN's Capacity Scheduler can honour it, so `EmbeddedCompute` (embedded)
and `YarnCompute` (cluster) are interchangeable:

- a project's queue is a leaf `<parent>.<project>` (default parent `root.projects`);
- `capacity_percent` is the project's guaranteed share of the parent queue and
  `max_capacity_percent` its elastic ceiling (Capacity Scheduler `capacity` /
  `maximum-capacity`, relative mode). The guaranteed shares of all projects may add up to
  at most 100 %; asking for more is a `Conflict` (the cluster is fully promised);
- the quota (`vcores`, `memory_mb`, `gpus`) is the largest container a project may ask
  for (YARN's per-queue `maximum-allocation`, GPUs as the `yarn.io/gpu` resource). The
  aggregate a project consumes is bounded by `max_capacity_percent` and, before work is
  admitted, by the service's compute credits (see docs/backends-compute-kubernetes.md).

Compute credits (see docs/backends-compute-kubernetes.md) are charged by the service from
`application_usage` (cumulative resource-seconds per application, the service charges the
increase per `app_id`) and enforced with `set_queue_state` (a PREPAID project whose credits
are spent gets a STOPPED queue: running work finishes, nothing new is admitted).

Every operation is idempotent: `create_project_queue` converges an existing queue to the
requested shares, `delete_project_queue` of an absent queue does nothing, so a saga can
repeat a step or run its undo (`delete_project_queue` undoes `create_project_queue`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Protocol

from hopsworks_api.errors import BadRequest
from hopsworks_api.identity import PROJECT_NAME_RE

HUNDRED = Decimal(100)


@dataclass(frozen=True)
class ComputeQuota:
    """The largest single container (YARN: per-queue `maximum-allocation`)."""

    vcores: int
    memory_mb: int
    gpus: int


@dataclass(frozen=True)
class QueueInfo:
    """A project's queue as the compute system sees it: configuration and current usage."""

    project: str
    queue: str
    # RUNNING; STOPPED (`set_queue_state(..., running=False)` or a delete in progress);
    # DRAINING (stopped, applications still running).
    state: str
    capacity_percent: float
    max_capacity_percent: float
    quota: ComputeQuota | None
    running_applications: int = 0
    used_vcores: int = 0
    used_memory_mb: int = 0
    used_gpus: int = 0


@dataclass(frozen=True)
class AppUsage:
    """What one application has consumed so far, as the compute system accounts it.

    The values are cumulative since the application was submitted (YARN's
    `vcoreSeconds`, `memorySeconds` and the GPU entry of `resourceSecondsMap`): a
    container of 2 vcores running 10 s adds 20 to `vcore_seconds`. `state` is the system's
    own word (YARN: NEW, NEW_SAVING, SUBMITTED, ACCEPTED, RUNNING, FINISHED, FAILED,
    KILLED); `finished` is True once the values can no longer grow.

    `started_at` is when the application was submitted (YARN's `startedTime`, naive UTC
    like the DB's timestamps). Compute systems key applications by queue, i.e. by project
    *name*, and keep finished ones for a while: an application started before the project
    that now has the name was created belongs to an earlier project of that name, and the
    service never charges it to the new one (`quotas.accounting`). `None` only for
    applications recorded by an earlier version of the embedded backend, which kept no
    start time (its state of a project goes with the project, so they are the current
    project's).
    """

    app_id: str
    project: str
    vcore_seconds: int
    gpu_seconds: int
    memory_mb_seconds: int
    state: str
    finished: bool
    started_at: datetime | None


EPOCH = datetime(1970, 1, 1)


def from_epoch_ms(milliseconds: int) -> datetime:
    """Milliseconds since the Unix epoch (YARN's timestamps) as naive UTC, exactly (no
    float rounding: the comparison with a project's `created_at` is to the millisecond)."""
    return EPOCH + timedelta(milliseconds=milliseconds)


def to_epoch_ms(moment: datetime) -> int:
    """Naive UTC (or aware) as milliseconds since the Unix epoch, rounded down."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return (moment - EPOCH) // timedelta(milliseconds=1)


class ComputeBackend(Protocol):
    def create_project_queue(
        self, project: str, capacity_percent: float, max_capacity_percent: float
    ) -> None:
        """Ensure the project's queue exists, RUNNING, with these shares (undo: delete)."""
        ...

    def delete_project_queue(self, project: str) -> None:
        """Stop and remove the queue; absent is done. `Conflict` while applications run."""
        ...

    def set_quota(self, project: str, vcores: int, memory_mb: int, gpus: int) -> None:
        """Set the project's container ceiling; `NotFound` if it has no queue."""
        ...

    def queue_info(self, project: str) -> QueueInfo:
        """The queue's configuration and usage; `NotFound` if it has no queue."""
        ...

    def list_project_queues(self) -> list[QueueInfo]:
        """Every project queue under the parent, sorted by project (for reconciliation)."""
        ...

    def application_usage(self, project: str) -> list[AppUsage]:
        """Every application the compute system still knows in the project's queue, running
        and finished, with its **cumulative** resource-seconds, sorted by `app_id`.

        The caller charges deltas: per `app_id` it remembers what it already charged and
        charges the increase (never a negative one: a value may drop after a
        ResourceManager restart that lost the usage of running containers). Finished
        applications are forgotten by the system after a while (YARN keeps the last
        `yarn.resourcemanager.max-completed-applications` of the whole cluster, and the
        `yarn.resourcemanager.state-store.max-completed-applications` of them across
        restarts), and with them the part of their usage not yet seen: the caller must poll
        more often than applications are forgotten. A project without a queue, or whose
        applications were all forgotten, has an empty list (finished applications outlive
        a deleted queue, so this is no `NotFound`). The queue is named after the project,
        so the list can hold applications of an earlier, deleted project of the same name:
        each carries its `started_at` so the caller can tell them apart.
        """
        ...

    def set_queue_state(self, project: str, running: bool) -> None:
        """Admit work again (`running=True`, YARN queue state RUNNING) or stop admitting it
        (`running=False`, STOPPED: applications already running continue to completion,
        new submissions are refused; `queue_info` reports DRAINING until they finish, then
        STOPPED). Idempotent; `NotFound` if the project has no queue.
        """
        ...


def check_project(project: str) -> str:
    # A project name (hopsworks_api.schemas) is a valid YARN queue name: no '.', no spaces.
    if not isinstance(project, str) or not PROJECT_NAME_RE.fullmatch(project) or "__" in project:
        raise BadRequest(f"'{project}' is not a valid project queue name", code="bad_queue_name")
    return project


def percent(value: float, what: str) -> Decimal:
    """A percentage as an exact decimal (two places), so shares add up without float drift."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise BadRequest(f"{what} must be a number", code="bad_capacity")
    if isinstance(value, float) and not math.isfinite(value):
        raise BadRequest(f"{what} must be finite", code="bad_capacity")
    try:
        exact = Decimal(str(value)).quantize(Decimal("0.01"))
    except InvalidOperation as exc:
        raise BadRequest(f"{what} is not a number", code="bad_capacity") from exc
    if not Decimal(0) <= exact <= HUNDRED:
        raise BadRequest(f"{what} must be between 0 and 100, not {value}", code="bad_capacity")
    return exact


def check_shares(capacity_percent: float, max_capacity_percent: float) -> tuple[Decimal, Decimal]:
    capacity = percent(capacity_percent, "capacity_percent")
    maximum = percent(max_capacity_percent, "max_capacity_percent")
    if maximum < capacity:
        # Capacity Scheduler: "absolute maximum capacity >= absolute capacity for each queue".
        raise BadRequest(
            f"max_capacity_percent ({maximum}) is below capacity_percent ({capacity})",
            code="bad_capacity",
        )
    return capacity, maximum


def check_quota(vcores: int, memory_mb: int, gpus: int) -> ComputeQuota:
    for name, value in (("vcores", vcores), ("memory_mb", memory_mb), ("gpus", gpus)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise BadRequest(f"{name} must be a non-negative integer", code="bad_quota")
        if value > 2**31 - 1:
            raise BadRequest(f"{name} is too large", code="bad_quota")
    return ComputeQuota(vcores=vcores, memory_mb=memory_mb, gpus=gpus)


def format_percent(value: Decimal) -> str:
    """`10.00` -> `10`, `12.50` -> `12.5`: the shortest exact form for a config value."""
    text = format(value.normalize(), "f")
    return text
