"""The compute contract: one scheduler queue per project, with a capacity share and a quota.

It is phrased the way YARN's Capacity Scheduler can honour it, so `LocalCompute` (embedded)
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

Every operation is idempotent: `create_project_queue` converges an existing queue to the
requested shares, `delete_project_queue` of an absent queue does nothing, so a saga can
repeat a step or run its undo (`delete_project_queue` undoes `create_project_queue`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Protocol

from hopsworks_api.errors import BadRequest
from hopsworks_api.schemas import PROJECT_NAME_RE

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
    state: str  # RUNNING, STOPPED, or DRAINING (stopped, applications still running)
    capacity_percent: float
    max_capacity_percent: float
    quota: ComputeQuota | None
    running_applications: int = 0
    used_vcores: int = 0
    used_memory_mb: int = 0
    used_gpus: int = 0


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


def as_float(value: Decimal) -> float:
    return float(value)


def format_percent(value: Decimal) -> str:
    """`10.00` -> `10`, `12.50` -> `12.5`: the shortest exact form for a config value."""
    text = format(value.normalize(), "f")
    return text
