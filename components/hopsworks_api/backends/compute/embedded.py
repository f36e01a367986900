"""The embedded compute backend: the queue plan of each project in its own JSON file.

There is no scheduler to configure on a single machine (jobs run on a local Spark), but
the platform still records each project's shares and quota here, under the same rules as
YARN (shares add up to at most 100 %, a ceiling is never below the guarantee), so the
service behaves alike on a laptop and on a cluster, and reconciliation has a state to
compare against.

Layout (``state_dir``):

- ``projects/<project>.json``: the project's queue (shares, state, quota), one document
  per project (`ProjectDocuments`: atomic replace, flock on ``compute-queues.lock``). A
  step reads and writes this one file, whatever the number of projects.
- ``compute-capacity.json``: the one piece of cross-project state, the sum of the
  guaranteed shares (``allocated``), so that "shares add up to at most 100 %" is checked in
  O(1) instead of by reading every project. It is a running total, O(1) in size, written
  only when a guarantee changes (the default guarantee is 0 %: then never) and absent
  while the total is 0. A change of a guarantee writes it twice around the project's file:
  first with the new total and a ``pending`` note (project, new guarantee), then the
  project's file, then the total without the note. After a crash in between, the next
  operation finds the note, reads that one project's file and corrects the total, so the
  index never drifts; and once settled the file is a function of the queues alone (an
  undone creation leaves the same bytes). Each instance also recomputes the total from all
  files once, on its first operation, in case files were edited by hand.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from hopsworks_api.backends.compute.base import (
    HUNDRED,
    AppUsage,
    ComputeQuota,
    QueueInfo,
    check_project,
    check_quota,
    check_shares,
    format_percent,
    from_epoch_ms,
    to_epoch_ms,
)
from hopsworks_api.backends.jsonstate import (
    ProjectDocuments,
    Transaction,
    encode,
    remove_file,
    replace_file,
)
from hopsworks_api.errors import BadRequest, Conflict, NotFound

PROJECTS_DIR = "projects"
LOCK_FILE = "compute-queues.lock"
INDEX_FILE = "compute-capacity.json"
FORMAT_VERSION = 1
ZERO = Decimal(0)
FINISHED_STATES = ("FINISHED", "FAILED", "KILLED")
APP_STATES = ("NEW", "NEW_SAVING", "SUBMITTED", "ACCEPTED", "RUNNING", *FINISHED_STATES)


def _capacity(entry: dict[str, Any] | None) -> Decimal:
    return ZERO if entry is None else Decimal(entry["capacity"])


class EmbeddedCompute:
    def __init__(self, state_dir: Path, parent_queue: str = "root.projects") -> None:
        self.parent_queue = parent_queue
        self.state_dir = Path(state_dir)
        self._index_path = self.state_dir / INDEX_FILE
        self.documents = ProjectDocuments(
            self.state_dir / PROJECTS_DIR,
            self.state_dir / LOCK_FILE,
            prepare=self._prepare,
        )

    # --- the capacity index (only under the documents' lock) ----------------------------

    def _read_index(self) -> dict[str, Any]:
        try:
            return json.loads(self._index_path.read_bytes())
        except FileNotFoundError:
            return {"version": FORMAT_VERSION, "allocated": "0"}

    def _write_index(self, allocated: Decimal, pending: tuple[str, Decimal | None] | None) -> None:
        if allocated == ZERO and pending is None:
            if remove_file(self._index_path):
                self.documents.stats.files_removed += 1
            return
        data: dict[str, Any] = {"version": FORMAT_VERSION, "allocated": format_percent(allocated)}
        if pending is not None:
            project, capacity = pending
            data["pending"] = {
                "project": project,
                "capacity": None if capacity is None else format_percent(capacity),
            }
        payload = encode(data)
        replace_file(self._index_path, payload)
        self.documents.stats.files_written += 1
        self.documents.stats.bytes_written += len(payload)

    def _allocated(self, documents: ProjectDocuments) -> Decimal:
        """The settled total: a ``pending`` note left by a crash is checked against that
        project's file (the one write that may be missing) and the total corrected."""
        index = self._read_index()
        allocated = Decimal(index["allocated"])
        pending = index.get("pending")
        if pending is None:
            return allocated
        noted = pending["capacity"]
        noted_capacity = None if noted is None else Decimal(noted)
        entry = documents.read(pending["project"])
        actual = None if entry is None else _capacity(entry)
        if actual != noted_capacity:
            allocated = allocated - (noted_capacity or ZERO) + (actual or ZERO)
        self._write_index(allocated, None)
        return allocated

    def _change_capacity(
        self, tx: Transaction, project: str, allocated: Decimal, old: Decimal, new: Decimal | None
    ) -> None:
        """Write the project's changed document; around it the total, when it changes."""
        if (new or ZERO) == old:
            tx.flush([project])
            return
        total = allocated - old + (new or ZERO)
        self._write_index(total, (project, new))
        tx.flush([project])
        self._write_index(total, None)

    def _prepare(self, documents: ProjectDocuments) -> None:
        """Once per instance, under the lock: check the total against every project's file
        (O(projects), once)."""
        self._allocated(documents)  # settles a pending note
        total = sum(
            (_capacity(e) for e in documents.read_all().values()),
            ZERO,
        )
        if Decimal(self._read_index()["allocated"]) != total:
            self._write_index(total, None)

    # --- the contract -------------------------------------------------------------------

    def create_project_queue(
        self, project: str, capacity_percent: float, max_capacity_percent: float
    ) -> None:
        check_project(project)
        capacity, maximum = check_shares(capacity_percent, max_capacity_percent)
        with self.documents.transaction() as tx:
            allocated = self._allocated(self.documents)
            entry = tx.get(project)
            old = _capacity(entry)
            others = allocated - old
            if others + capacity > HUNDRED:
                raise Conflict(
                    f"only {format_percent(HUNDRED - others)} % of {self.parent_queue} is "
                    f"unallocated; {format_percent(capacity)} % requested",
                    code="compute_capacity_exhausted",
                )
            queue = dict(entry) if entry is not None else {"quota": None}
            queue.update(
                version=FORMAT_VERSION,
                capacity=format_percent(capacity),
                max_capacity=format_percent(maximum),
                state="RUNNING",
            )
            tx.set(project, queue)
            self._change_capacity(tx, project, allocated, old, capacity)

    def delete_project_queue(self, project: str) -> None:
        check_project(project)
        with self.documents.transaction() as tx:
            entry = tx.get(project)
            if entry is None:
                return
            allocated = self._allocated(self.documents)
            tx.set(project, None)
            self._change_capacity(tx, project, allocated, _capacity(entry), None)

    def set_quota(self, project: str, vcores: int, memory_mb: int, gpus: int) -> None:
        check_project(project)
        quota = check_quota(vcores, memory_mb, gpus)
        with self.documents.transaction() as tx:
            entry = tx.get(project)
            if entry is None:
                raise NotFound(f"project '{project}' has no compute queue")
            entry["quota"] = {
                "vcores": quota.vcores,
                "memory_mb": quota.memory_mb,
                "gpus": quota.gpus,
            }

    def _info(self, project: str, entry: dict[str, Any]) -> QueueInfo:
        quota = entry.get("quota")
        running = sum(
            1
            for app in entry.get("applications", {}).values()
            if app["state"] not in FINISHED_STATES
        )
        state = entry["state"]
        return QueueInfo(
            project=project,
            queue=f"{self.parent_queue}.{project}",
            state="DRAINING" if state == "STOPPED" and running else state,
            running_applications=running,
            capacity_percent=float(entry["capacity"]),
            max_capacity_percent=float(entry["max_capacity"]),
            quota=ComputeQuota(**quota) if quota else None,
        )

    def queue_info(self, project: str) -> QueueInfo:
        check_project(project)
        entry = self.documents.read(project)
        if entry is None:
            raise NotFound(f"project '{project}' has no compute queue")
        return self._info(project, entry)

    def list_project_queues(self) -> list[QueueInfo]:
        queues = self.documents.read_all()
        return [self._info(name, queues[name]) for name in sorted(queues)]

    # --- work and its usage -------------------------------------------------------------

    def set_queue_state(self, project: str, running: bool) -> None:
        check_project(project)
        if not isinstance(running, bool):
            raise BadRequest("running must be true or false")
        with self.documents.transaction() as tx:
            entry = tx.get(project)
            if entry is None:
                raise NotFound(f"project '{project}' has no compute queue")
            entry["state"] = "RUNNING" if running else "STOPPED"

    def record_application(
        self,
        project: str,
        app_id: str,
        *,
        vcore_seconds: int,
        gpu_seconds: int = 0,
        memory_mb_seconds: int = 0,
        state: str = "RUNNING",
        started_at: datetime | None = None,
    ) -> None:
        """What local jobs report as they run (cumulative, like YARN's counters). A new
        application is refused while the queue is stopped, as YARN refuses it.

        `started_at` (naive or aware UTC) is when the job was submitted; without it the
        first report is taken as the submission. It is kept from the first report on, as
        YARN keeps `startedTime`, so that a job that began under an earlier project of this
        name and reports late is never charged to the project that has the name now."""
        check_project(project)
        if state not in APP_STATES:
            raise BadRequest(f"unknown application state '{state}'")
        if started_at is not None and not isinstance(started_at, datetime):
            raise BadRequest("started_at must be a datetime")
        started_ms = to_epoch_ms(started_at or datetime.now(UTC))
        with self.documents.transaction() as tx:
            entry = tx.get(project)
            if entry is None:
                raise NotFound(f"project '{project}' has no compute queue")
            apps = entry.setdefault("applications", {})
            if app_id not in apps and entry["state"] != "RUNNING":
                raise Conflict(
                    f"the queue of project '{project}' is stopped: no new work is admitted",
                    code="compute_queue_stopped",
                )
            known = apps.get(app_id) or {}
            apps[app_id] = {
                "vcore_seconds": int(vcore_seconds),
                "gpu_seconds": int(gpu_seconds),
                "memory_mb_seconds": int(memory_mb_seconds),
                "state": state,
                # ms since the epoch, as YARN reports it; documents of earlier versions
                # have none for their applications (`AppUsage.started_at` None).
                "started_ms": known.get("started_ms") if known else started_ms,
            }

    def application_usage(self, project: str) -> list[AppUsage]:
        check_project(project)
        entry = self.documents.read(project) or {}
        return [
            AppUsage(
                app_id=app_id,
                project=project,
                vcore_seconds=app["vcore_seconds"],
                gpu_seconds=app["gpu_seconds"],
                memory_mb_seconds=app["memory_mb_seconds"],
                state=app["state"],
                finished=app["state"] in FINISHED_STATES,
                started_at=(
                    from_epoch_ms(app["started_ms"]) if app.get("started_ms") is not None else None
                ),
            )
            for app_id, app in sorted(entry.get("applications", {}).items())
        ]
