"""One pass over the systems: what each found different from the desired state, and its repair.

The same pass serves a change (`strict`: the first failure aborts it, so the change can be
compensated and the API names the system) and a repair (`report`: a system that does not
answer is reported and the others are still converged). Repairs that destroy data (dropping
a database, deleting topics, a queue, a namespace, a project's files) are held back until
every other repair of the pass succeeded: a deletion that fails half-way is compensated
before anything irreversible ran.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hopsworks_api.backends.errors import BackendUnavailable
from hopsworks_api.backends.registry import Backends
from hopsworks_api.config import Settings
from hopsworks_api.provisioning.desired import World

# The order destructive repairs run in: data the platform cannot bring back goes last.
DESTRUCTIVE_ORDER = ("kafka", "yarn", "kubernetes", "hive", "storage")


@dataclass
class Drift:
    system: str
    project: str
    problem: str
    repaired: bool = False


@dataclass
class Report:
    drift: list[Drift] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # projects this pass made absent


@dataclass
class Pass:
    """The context every system's converge function gets."""

    backends: Backends
    settings: Settings
    world: World
    certificate_pems: Callable[[object], tuple[str, str, str]]
    dry_run: bool = False
    strict: bool = False
    report: Report = field(default_factory=Report)
    _held: list[tuple[Drift, Callable[[], None]]] = field(default_factory=list)

    def found(
        self,
        system: str,
        project: str,
        problem: str,
        repair: Callable[[], None],
        *,
        destructive: bool = False,
    ) -> None:
        drift = Drift(system, project, problem)
        self.report.drift.append(drift)
        if self.dry_run:
            return
        if destructive:
            self._held.append((drift, repair))
            return
        self._repair(drift, repair)

    def guarded(self, system: str, check: Callable[[Pass], None]) -> None:
        if self.strict:
            check(self)
            return
        try:
            check(self)
        except BackendUnavailable as exc:
            self.report.unreachable.append(f"{system}: {exc.message}")

    def finish(self) -> None:
        """Run the destructive repairs held back, in `DESTRUCTIVE_ORDER`."""
        held = sorted(self._held, key=lambda item: DESTRUCTIVE_ORDER.index(item[0].system))
        self._held = []
        for drift, repair in held:
            self._repair(drift, repair)

    def _repair(self, drift: Drift, repair: Callable[[], None]) -> None:
        if self.strict:
            repair()
            drift.repaired = True
            return
        try:
            repair()
            drift.repaired = True
        except BackendUnavailable as exc:
            drift.problem += f" (repair failed: {exc.message})"
