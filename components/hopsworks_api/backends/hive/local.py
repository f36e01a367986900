"""`LocalHive`: the embedded default when no HiveServer2 is configured.

There is no SQL engine: what it keeps is the platform's side of Hive, one directory per
project database under a warehouse directory (``<warehouse>/<project>.db``, the layout Hive
uses) and a catalog of databases and desired grants, applying the same naming, location
and grant rules as `HiveServer2Hive`, so the control service runs on one machine with no
other server and reports the same sizes for its quotas. A Spark job of the local compute
backend can write tables into a database directory; their bytes count.

The catalog is one small JSON file in the warehouse, replaced atomically under a file lock
(`JsonStateFile`), so several service processes agree and a crash leaves the old catalog or
the new one. The directory is created before the catalog entry and removed before the entry
is dropped: an interrupted create or drop is finished by running it again.

Grants are recorded, not enforced (nothing here runs queries); `GrantResult.applied` is
False to say so, and `list_grants` returns what was recorded, for reconciliation.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from hopsworks_api.backends.compute.jsonstate import JsonStateFile
from hopsworks_api.backends.errors import BackendUnavailable
from hopsworks_api.backends.hive.base import (
    SYSTEM,
    GrantPlan,
    GrantResult,
    HiveDatabase,
    PlannedGrants,
    default_location,
    is_project_database,
    location_path,
    validate_location,
    validate_project,
)
from hopsworks_api.errors import BadRequest, Conflict, NotFound

CATALOG_FILE = ".hive-catalog.json"
FORMAT_VERSION = 1

T = TypeVar("T")


def directory_size(path: Path) -> int:
    """Bytes of the regular files under ``path``, symlinks not followed (a link must not
    let a project count, or hide, bytes outside its database); 0 if it does not exist."""
    total = 0
    stack = [path]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except FileNotFoundError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
            except FileNotFoundError:
                continue  # removed while we walked: it no longer counts
    return total


def _empty() -> dict[str, Any]:
    return {"version": FORMAT_VERSION, "databases": {}}


class LocalHive(PlannedGrants):
    """Project databases as directories under ``warehouse`` plus a JSON catalog."""

    def __init__(self, warehouse: Path | str) -> None:
        self.warehouse = Path(warehouse).resolve()
        try:
            self.warehouse.mkdir(parents=True, exist_ok=True)
            self._catalog = JsonStateFile(self.warehouse / CATALOG_FILE, _empty)
        except OSError as exc:
            raise BackendUnavailable(SYSTEM, f"warehouse {self.warehouse}: {exc}") from exc

    # --- plumbing -----------------------------------------------------------------------

    def _read(self) -> dict[str, Any]:
        return self._guard(self._catalog.read)

    def _update(self, change: Callable[[dict[str, Any]], T]) -> T:
        return self._guard(lambda: self._catalog.update(change))

    @staticmethod
    def _guard(call: Callable[[], T]) -> T:
        """File-system failures are the backend being unavailable (503), never a 500; an
        unreadable catalog is never replaced by an empty one (reconcile would then "repair"
        by dropping every database)."""
        try:
            return call()
        except OSError as exc:
            raise BackendUnavailable(SYSTEM, f"warehouse I/O failed: {exc}") from exc
        except ValueError as exc:
            raise BackendUnavailable(SYSTEM, f"catalog is unreadable: {exc}") from exc

    def _directory(self, project: str, location: str) -> Path:
        path = Path(location_path(location))
        resolved = path.parent.resolve() / path.name
        if resolved.parent != self.warehouse and self.warehouse not in resolved.parents:
            raise BadRequest(
                f"LocalHive keeps databases inside its warehouse {self.warehouse}",
                code="bad_location",
            )
        return resolved

    def default_location(self, project: str) -> str:
        return default_location(str(self.warehouse), project)

    # --- databases ----------------------------------------------------------------------

    def create_database(self, project: str, location: str | None = None) -> HiveDatabase:
        validate_project(project)
        wanted = validate_location(project, location or self.default_location(project))
        directory = self._directory(project, wanted)

        def change(data: dict[str, Any]) -> None:
            current = data["databases"].get(project)
            if current is not None:
                if current["location"] != wanted:
                    raise Conflict(
                        f"Hive database '{project}' exists at {current['location']}, "
                        f"not at {wanted}"
                    )
                return
            directory.mkdir(parents=True, exist_ok=True)
            data["databases"][project] = {"location": wanted, "grants": {}}

        self._update(change)
        return self.describe(project)

    def drop_database(self, project: str) -> bool:
        validate_project(project)
        entry = self._read()["databases"].get(project)
        if entry is None:
            return False
        directory = self._directory(project, entry["location"])

        def remove() -> None:
            if directory.exists():
                shutil.rmtree(directory)

        self._guard(remove)

        def change(data: dict[str, Any]) -> bool:
            existed = data["databases"].pop(project, None) is not None
            # the project's members lose what was shared with them: their principals
            # would otherwise keep rights if a project of the same name came back
            prefix = f"{project}__"
            for other in data["databases"].values():
                for who in [w for w in other["grants"] if w.startswith(prefix)]:
                    del other["grants"][who]
            return existed

        return self._update(change)

    def database_exists(self, project: str) -> bool:
        validate_project(project)
        return project in self._read()["databases"]

    def describe(self, project: str) -> HiveDatabase:
        validate_project(project)
        entry = self._read()["databases"].get(project)
        if entry is None:
            raise NotFound(f"Hive database '{project}' does not exist")
        directory = self._directory(project, entry["location"])

        def measure() -> tuple[int, tuple[str, ...]]:
            tables: list[str] = []
            if directory.is_dir():
                tables = sorted(
                    e.name
                    for e in os.scandir(directory)
                    if e.is_dir(follow_symlinks=False) and not e.name.startswith((".", "_"))
                )
            return directory_size(directory), tuple(tables)

        size, tables = self._guard(measure)
        return HiveDatabase(project, entry["location"], size, tables, "filesystem")

    def list_project_databases(self) -> list[str]:
        return sorted(n for n in self._read()["databases"] if is_project_database(n))

    # --- grants -------------------------------------------------------------------------

    def _apply(self, plans: Sequence[GrantPlan], *, must_exist: bool) -> GrantResult:
        if not plans:
            return GrantResult((), False)
        project = plans[0].project

        def change(data: dict[str, Any]) -> None:
            entry = data["databases"].get(project)
            if entry is None:
                if must_exist:
                    raise NotFound(f"Hive database '{project}' does not exist")
                return
            for plan in plans:
                if plan.keep:
                    entry["grants"][plan.principal] = list(plan.keep)
                else:
                    entry["grants"].pop(plan.principal, None)

        self._update(change)
        return GrantResult(tuple(s for p in plans for s in p.statements), False)

    def list_grants(self, project: str) -> dict[str, tuple[str, ...]] | None:
        """The recorded privileges on the database by principal ({} if it does not exist)."""
        validate_project(project)
        entry = self._read()["databases"].get(project)
        if entry is None:
            return {}
        return {who: tuple(privs) for who, privs in sorted(entry["grants"].items())}
