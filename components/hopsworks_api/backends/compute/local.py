"""The embedded compute backend: the queue plan of every project in one JSON file.

There is no scheduler to configure on a single machine (jobs run on a local Spark), but
the platform still records each project's shares and quota here, under the same rules as
YARN (shares add up to at most 100 %, a ceiling is never below the guarantee), so the
service behaves alike on a laptop and on a cluster, and reconciliation has a state to
compare against.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from hopsworks_api.backends.compute.base import (
    HUNDRED,
    ComputeQuota,
    QueueInfo,
    check_project,
    check_quota,
    check_shares,
    format_percent,
)
from hopsworks_api.backends.compute.jsonstate import JsonStateFile
from hopsworks_api.errors import Conflict, NotFound

STATE_FILE = "compute-queues.json"


def _empty() -> dict[str, Any]:
    return {"version": 1, "queues": {}}


class LocalCompute:
    def __init__(self, state_dir: Path, parent_queue: str = "root.projects") -> None:
        self.parent_queue = parent_queue
        self._state = JsonStateFile(Path(state_dir) / STATE_FILE, _empty)

    def create_project_queue(
        self, project: str, capacity_percent: float, max_capacity_percent: float
    ) -> None:
        check_project(project)
        capacity, maximum = check_shares(capacity_percent, max_capacity_percent)

        def change(data: dict[str, Any]) -> None:
            queues: dict[str, Any] = data["queues"]
            others = sum(
                (Decimal(q["capacity"]) for name, q in queues.items() if name != project),
                Decimal(0),
            )
            if others + capacity > HUNDRED:
                raise Conflict(
                    f"only {format_percent(HUNDRED - others)} % of {self.parent_queue} is "
                    f"unallocated; {format_percent(capacity)} % requested",
                    code="compute_capacity_exhausted",
                )
            entry = queues.setdefault(project, {"quota": None})
            entry.update(
                capacity=format_percent(capacity),
                max_capacity=format_percent(maximum),
                state="RUNNING",
            )

        self._state.update(change)

    def delete_project_queue(self, project: str) -> None:
        check_project(project)
        self._state.update(lambda data: data["queues"].pop(project, None))

    def set_quota(self, project: str, vcores: int, memory_mb: int, gpus: int) -> None:
        check_project(project)
        quota = check_quota(vcores, memory_mb, gpus)

        def change(data: dict[str, Any]) -> None:
            entry = data["queues"].get(project)
            if entry is None:
                raise NotFound(f"project '{project}' has no compute queue")
            entry["quota"] = {
                "vcores": quota.vcores,
                "memory_mb": quota.memory_mb,
                "gpus": quota.gpus,
            }

        self._state.update(change)

    def _info(self, project: str, entry: dict[str, Any]) -> QueueInfo:
        quota = entry.get("quota")
        return QueueInfo(
            project=project,
            queue=f"{self.parent_queue}.{project}",
            state=entry["state"],
            capacity_percent=float(entry["capacity"]),
            max_capacity_percent=float(entry["max_capacity"]),
            quota=ComputeQuota(**quota) if quota else None,
        )

    def queue_info(self, project: str) -> QueueInfo:
        check_project(project)
        entry = self._state.read()["queues"].get(project)
        if entry is None:
            raise NotFound(f"project '{project}' has no compute queue")
        return self._info(project, entry)

    def list_project_queues(self) -> list[QueueInfo]:
        queues = self._state.read()["queues"]
        return [self._info(name, queues[name]) for name in sorted(queues)]
