"""`EmbeddedHive`: the embedded default when no HiveServer2 is configured.

There is no SQL engine: what it keeps is the platform's side of Hive, one directory per
project database under a warehouse directory (``<warehouse>/<project>.db``, the layout Hive
uses) and a catalog of databases and desired grants, applying the same naming, location
and grant rules as `HiveServer2Hive`, so the control service runs on one machine with no
other server and reports the same sizes for its quotas. A Spark job of the local compute
backend can write tables into a database directory; their bytes count.

The catalog is one small JSON document per database, ``<warehouse>/.hive-catalog/<project>.json``
(its location and recorded grants), replaced atomically under a file lock
(`ProjectDocuments`, flock on ``<warehouse>/.hive-catalog.lock``), so several service
processes agree, a crash leaves the old entry or the new one, and creating a database or
granting on it reads and writes that one small file, whatever the number of projects. The
directory is created before the catalog entry and removed before the entry is dropped: an
interrupted create or drop is finished by running it again.

The only cross-project state is grants held on database A by members of project B (a
share). They live in A's document, with A's other grants; dropping B removes them from the
databases that hold them by reading every document once. That O(projects) scan is on the
drop path only (a project's deletion, or the undo of a failed creation), never on a
creation step, and a drop is rare; an index of "who shares into B" would make every share
write two documents for little gain. Listings read every document (so an unreadable one is
reported, never taken for a missing database).

Grants are recorded, not enforced (nothing here runs queries); `GrantResult.applied` is
False to say so, and `list_grants` returns what was recorded, for reconciliation.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

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
from hopsworks_api.backends.jsonstate import ProjectDocuments, Transaction
from hopsworks_api.errors import BadRequest, Conflict, NotFound

CATALOG_DIR = ".hive-catalog"
LOCK_FILE = ".hive-catalog.lock"
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


def _decode(name: str, data: Any) -> dict[str, Any]:
    if data.get("version") != FORMAT_VERSION:
        raise ValueError(f"catalog entry {name!r}: unknown format version {data.get('version')!r}")
    if not isinstance(data.get("location"), str) or not isinstance(data.get("grants"), dict):
        raise ValueError(f"catalog entry {name!r} has no location or grants")
    return data


class EmbeddedHive(PlannedGrants):
    """Project databases as directories under ``warehouse`` plus a JSON catalog."""

    def __init__(self, warehouse: Path | str) -> None:
        self.warehouse = Path(warehouse).resolve()
        try:
            self.warehouse.mkdir(parents=True, exist_ok=True)
            self.documents = ProjectDocuments(
                self.warehouse / CATALOG_DIR,
                self.warehouse / LOCK_FILE,
                decode=_decode,
            )
        except OSError as exc:
            raise BackendUnavailable(SYSTEM, f"warehouse {self.warehouse}: {exc}") from exc

    # --- plumbing -----------------------------------------------------------------------

    def _entry(self, project: str) -> dict[str, Any] | None:
        return self._guard(lambda: self.documents.read(project))

    def _transaction(self, change: Callable[[Transaction], T]) -> T:
        """Run ``change`` on a transaction of the catalog (see `ProjectDocuments`)."""

        def run() -> T:
            with self.documents.transaction() as tx:
                return change(tx)

        return self._guard(run)

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
                f"EmbeddedHive keeps databases inside its warehouse {self.warehouse}",
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

        def change(tx: Transaction) -> None:
            current = tx.get(project)
            if current is not None:
                if current["location"] != wanted:
                    raise Conflict(
                        f"Hive database '{project}' exists at {current['location']}, "
                        f"not at {wanted}"
                    )
                return
            directory.mkdir(parents=True, exist_ok=True)
            tx.set(project, {"version": FORMAT_VERSION, "location": wanted, "grants": {}})

        self._transaction(change)
        return self.describe(project)

    def drop_database(self, project: str) -> bool:
        validate_project(project)
        entry = self._entry(project)
        if entry is None:
            return False
        directory = self._directory(project, entry["location"])

        def remove() -> None:
            if directory.exists():
                shutil.rmtree(directory)

        self._guard(remove)

        def change(tx: Transaction) -> bool:
            existed = tx.get(project) is not None
            tx.set(project, None)
            # the project's members lose what was shared with them: their principals
            # would otherwise keep rights if a project of the same name came back (the
            # one cross-project scan, see the module docstring)
            prefix = f"{project}__"
            for name in self.documents.names():
                other = tx.get(name) if name != project else None
                if other is None:
                    continue
                for who in [w for w in other["grants"] if w.startswith(prefix)]:
                    del other["grants"][who]
            return existed

        return self._transaction(change)

    def database_exists(self, project: str) -> bool:
        validate_project(project)
        return self._entry(project) is not None

    def describe(self, project: str) -> HiveDatabase:
        validate_project(project)
        entry = self._entry(project)
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
        catalog = self._guard(self.documents.read_all)
        return sorted(n for n in catalog if is_project_database(n))

    # --- grants -------------------------------------------------------------------------

    def _apply(self, plans: Sequence[GrantPlan], *, must_exist: bool) -> GrantResult:
        if not plans:
            return GrantResult((), False)
        project = plans[0].project

        def change(tx: Transaction) -> None:
            entry = tx.get(project)
            if entry is None:
                if must_exist:
                    raise NotFound(f"Hive database '{project}' does not exist")
                return
            for plan in plans:
                if plan.keep:
                    entry["grants"][plan.principal] = list(plan.keep)
                else:
                    entry["grants"].pop(plan.principal, None)

        self._transaction(change)
        return GrantResult(tuple(s for p in plans for s in p.statements), False)

    def list_grants(self, project: str) -> dict[str, tuple[str, ...]] | None:
        """The recorded privileges on the database by principal ({} if it does not exist)."""
        validate_project(project)
        entry = self._entry(project)
        if entry is None:
            return {}
        return {who: tuple(privs) for who, privs in sorted(entry["grants"].items())}
