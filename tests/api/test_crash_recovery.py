"""`kill -9` at every backend change of a scenario, then a restart: within seconds, and with
no `hops reconcile`, the journal is empty, every backend matches the DB and the DB is whole.

The scenario (two projects, a member added, a dataset and a topic shared and accepted, the
member removed, a project deleted) is first run once to count its backend changes. Then,
for each change N, a fresh copy of the same starting data dir is served by a process that
SIGKILLs itself just before its N-th change, and once more, for the last change of each
step, just after it (between two changes of one step "after N" is "before N+1"; after a
step's last change comes the DB transaction that finishes it). A normal server restarted on
that data dir must then repair everything on its own.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session

from hopsworks_api.config import Settings
from hopsworks_api.datasets.models import DEFAULT_DATASETS, Dataset
from hopsworks_api.identity import Role
from hopsworks_api.main import build_runtime
from hopsworks_api.members.models import Membership
from hopsworks_api.pki.models import Certificate, CertKind, CertStatus
from hopsworks_api.projects.models import Project, ProjectStatus
from hopsworks_api.provisioning.converge import reconcile
from hopsworks_api.provisioning.models import ProvisioningChange
from hopsworks_api.quotas.models import ProjectQuota
from hopsworks_api.runtime import Runtime
from tests.support.api import Api
from tests.support.crashing_server import (
    CALLS_FILE,
    CRASH_AT,
    CRASH_WHEN,
    Launcher,
    Server,
)
from tests.support.processes import free_port

JWT_SECRET = "crash-test-secret-" + "x" * 32
STARTUP_SECONDS = 60
REPAIR_SECONDS = 20  # "within seconds" of the restart, with room for a loaded machine
P = "/api/projects"


@dataclass(frozen=True)
class Request:
    who: str
    method: str
    path: str
    body: dict[str, Any] | None = None
    status: int = 200


STEPS: dict[str, list[Request]] = {
    "create project": [Request("alice", "POST", P, {"name": "alpha"}, 201)],
    "create a second project": [Request("bob", "POST", P, {"name": "beta"}, 201)],
    "add member": [
        Request(
            "alice",
            "POST",
            f"{P}/alpha/members",
            {"email": Api.email("carol"), "role": "data_scientist"},
            201,
        )
    ],
    "create dataset": [Request("alice", "POST", f"{P}/alpha/datasets", {"name": "sales"}, 201)],
    "create topic": [Request("alice", "POST", f"{P}/alpha/topics", {"name": "events"}, 201)],
    "share dataset": [
        Request(
            "alice",
            "POST",
            f"{P}/alpha/datasets/sales/shares",
            {"project": "beta", "permission": "read_only"},
            201,
        ),
        Request("bob", "POST", f"{P}/beta/shared/alpha::sales/accept"),
    ],
    "share topic": [
        Request(
            "alice",
            "POST",
            f"{P}/alpha/topics/events/shares",
            {"project": "beta", "permission": "editable"},
            201,
        ),
        Request("bob", "POST", f"{P}/beta/shared/topics/alpha::events/accept"),
    ],
    "remove member": [
        Request("alice", "DELETE", f"{P}/alpha/members/{Api.email('carol')}", status=204)
    ],
    "delete project": [Request("alice", "DELETE", f"{P}/alpha", status=204)],
}


def server_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """Short lease and journal intervals: a restarted server takes the dead one's lease
    over within a second and drains the journal at once."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("HOPS_")}
    return {
        **inherited,
        "HOPS_DATA_DIR": str(data_dir),
        "HOPS_JWT_SECRET": JWT_SECRET,
        "HOPS_PASSWORD_TIME_COST": "1",
        "HOPS_PASSWORD_MEMORY_KIB": "64",
        "HOPS_LEASE_DURATION_SECONDS": "1",
        "HOPS_LEASE_RENEW_SECONDS": "0.25",
        "HOPS_JOURNAL_INTERVAL_SECONDS": "0.2",
        "HOPS_LOG_JSON": "true",
        **extra,
    }


def check_settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, jwt_secret=JWT_SECRET)


@dataclass(repr=False)
class Bench:
    """One zygote for the module, the data dir every run starts from, the users' tokens,
    and the backend changes of each step (numbered as the tripwire numbers them)."""

    launcher: Launcher
    root: Path
    template: Path
    tokens: dict[str, str]
    calls: dict[str, list[tuple[int, str]]] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Bench({self.root})"

    def serve(self, data_dir: Path, name: str, **extra: str) -> Server:
        server = self.launcher.start(
            server_env(data_dir, **extra), free_port(), self.root / f"{name}.log"
        )
        server.wait_healthy(STARTUP_SECONDS)
        return server

    def play(self, server: Server, steps: list[str] | None = None) -> Iterator[str]:
        """Send the scenario's requests in order, yielding each step's name after it;
        stops quietly at the first request whose connection the server's death cut."""
        with httpx.Client(base_url=server.base, timeout=60) as client:
            api = Api(client, tokens=dict(self.tokens))
            for step in steps or list(STEPS):
                for r in STEPS[step]:
                    try:
                        reply = api.call(r.who, r.method, r.path, json=r.body)
                    except httpx.TransportError:
                        return
                    assert reply.status_code == r.status, (step, reply.text)
                yield step


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    root = tmp_path_factory.mktemp("crash")
    launcher = Launcher(root / "zygote.log")
    try:
        template = root / "template"
        server = launcher.start(server_env(template), free_port(), root / "template.log")
        server.wait_healthy(STARTUP_SECONDS)
        with httpx.Client(base_url=server.base, timeout=60) as client:
            api = Api(client)
            for name in ("alice", "bob", "carol"):
                api.register(name)
        server.stop(signal.SIGTERM)  # the lease released, the WAL checkpointed
        bench = Bench(launcher, root, template, dict(api.tokens))
        _count_calls(bench)
        yield bench
    finally:
        launcher.close()


def _count_calls(bench: Bench) -> None:
    """The scenario without a crash: which backend changes each step makes; and the final
    state passes the same checks as every crash run (so they do not fail by themselves)."""
    data = bench.root / "count"
    shutil.copytree(bench.template, data)
    calls_file = bench.root / "count.calls"
    server = bench.serve(data, "count", **{CALLS_FILE: str(calls_file)})
    seen = 0
    for step in bench.play(server):
        lines = calls_file.read_text().splitlines() if calls_file.exists() else []
        bench.calls[step] = [(int(line.split()[0]), line) for line in lines[seen:]]
        seen = len(lines)
    server.stop()
    assert list(bench.calls) == list(STEPS), "the scenario did not run to its end"
    assert not _wait_repaired(data), "the scenario's own end state fails the checks"


def _problems(rt: Runtime) -> list[str]:
    with rt.read_sessions() as session:
        pending = session.execute(
            select(ProvisioningChange.reason, ProvisioningChange.last_error)
        ).all()
    if pending:
        return [f"journal entry {reason!r} left (last error: {error})" for reason, error in pending]
    report = reconcile(rt, dry_run=True)
    problems = [f"{d.system} drift in {d.project}: {d.problem}" for d in report.drift]
    problems += [f"unreachable: {u}" for u in report.unreachable]
    with rt.read_sessions() as session:
        problems += _db_problems(session)
        names = set(session.scalars(select(Project.name)))
    stored = rt.settings.storage_root / "Projects"
    held = {p.name for p in stored.iterdir()} if stored.exists() else set()
    problems += [f"storage holds Projects/{name} of no project" for name in held - names]
    return problems


def _db_problems(session: Session) -> list[str]:
    """A project exists with every row it is created with, or not at all; a certificate of
    a project user is valid only while they are a member."""
    problems = []
    for project in session.scalars(select(Project)):
        if project.status != ProjectStatus.ACTIVE:
            problems.append(f"project {project.name} left {project.status}")
        if session.get(ProjectQuota, project.id) is None:
            problems.append(f"project {project.name} has no quota row")
        owners = session.scalar(
            select(func.count()).where(
                Membership.project_id == project.id, Membership.role == Role.DATA_OWNER
            )
        )
        if not owners:
            problems.append(f"project {project.name} has no data owner")
        datasets = set(
            session.scalars(select(Dataset.name).where(Dataset.project_id == project.id))
        )
        if missing := set(DEFAULT_DATASETS) - datasets:
            problems.append(f"project {project.name} lacks datasets {sorted(missing)}")
    member = exists().where(
        and_(
            Membership.project_id == Certificate.project_id,
            Membership.user_id == Certificate.user_id,
        )
    )
    for common_name, project in session.execute(
        select(Certificate.common_name, Certificate.project).where(
            Certificate.kind == CertKind.PROJECT_USER,
            Certificate.status == CertStatus.VALID,
            ~member,
        )
    ):
        problems.append(f"valid certificate {common_name} of a non-member of {project}")
    return problems


def _wait_repaired(data_dir: Path) -> list[str]:
    """Poll until nothing is wrong; at the deadline, what still is."""
    rt = build_runtime(check_settings(data_dir))
    try:
        deadline = time.monotonic() + REPAIR_SECONDS
        while problems := _problems(rt):
            if time.monotonic() > deadline:
                return problems
            time.sleep(0.1)
        return []
    finally:
        rt.engine.dispose()


def _call(line: str) -> str:
    """'N system.method' of a tripwire line (its arguments hold fresh keys every run)."""
    return line.split("(", 1)[0]


def crash(bench: Bench, name: str, step: str, number: int, when: str) -> Path:
    """Run the scenario up to `step` on a fresh data dir in a server that dies at its
    `number`-th backend change `when` (before or after it); the data dir it left."""
    data = bench.root / name
    shutil.copytree(bench.template, data)
    calls_file = bench.root / f"{name}.calls"
    crashing = bench.serve(
        data,
        name,
        **{CALLS_FILE: str(calls_file), CRASH_AT: str(number), CRASH_WHEN: when},
    )
    steps = list(STEPS)
    played = list(bench.play(crashing, steps[: steps.index(step) + 1]))
    assert step not in played, f"{name}: the scenario finished its step without the crash"
    crashing.wait_dead(30)
    _assert_died_at(calls_file, dict(bench.calls[step])[number])
    return data


def _assert_died_at(calls_file: Path, expected: str) -> None:
    made = calls_file.read_text().splitlines()
    assert [_call(line) for line in made[-1:]] == [_call(expected)], (
        f"died at {made[-1:]}, not at {expected}: the scenario is not deterministic"
    )


def recover(bench: Bench, data: Path, name: str, **extra: str) -> list[str]:
    """Start a server on `data`: what is still wrong after REPAIR_SECONDS (nothing, once
    recovery works)."""
    restarted = bench.serve(data, name, **extra)
    try:
        return _wait_repaired(data)
    finally:
        restarted.stop()


def crash_and_recover(bench: Bench, step: str, number: int, when: str) -> list[str]:
    name = f"{when}-{number}"
    data = crash(bench, name, step, number, when)
    try:
        return recover(bench, data, f"{name}-restarted")
    finally:
        shutil.rmtree(data, ignore_errors=True)


@pytest.mark.parametrize("step", list(STEPS))
def test_a_crash_at_any_backend_change_is_repaired_after_restart(bench: Bench, step: str):
    calls = bench.calls[step]
    assert calls, f"step {step!r} changes no backend: it tests nothing here"
    points = [(number, line, "before") for number, line in calls]
    points.append((calls[-1][0], calls[-1][1], "after"))
    failures = {
        f"{when} {line[:120]}": problems
        for number, line, when in points
        if (problems := crash_and_recover(bench, step, number, when))
    }
    assert not failures, "\n".join(f"{point}: {problems}" for point, problems in failures.items())


def test_a_crash_during_the_repair_is_repaired_by_the_next_start(bench: Bench):
    """A project deletion cut short before its first backend change; the server restarted
    on it dies in turn at each change of its own repair; the next start finishes it."""
    step = "delete project"
    first, _line = bench.calls[step][0]
    data = crash(bench, "repair-count", step, first, "before")
    repair_calls = bench.root / "repair-count.repair.calls"
    problems = recover(bench, data, "repair-count-restarted", **{CALLS_FILE: str(repair_calls)})
    assert not problems
    repairs = repair_calls.read_text().splitlines()
    assert repairs, "the repair changed no backend: this tests nothing"
    failures = {}
    for number, line in enumerate(repairs, 1):
        name = f"repair-{number}"
        data = crash(bench, name, step, first, "before")
        calls_file = bench.root / f"{name}.repair.calls"
        env = server_env(data, **{CALLS_FILE: str(calls_file), CRASH_AT: str(number)})
        dying = bench.launcher.start(env, free_port(), bench.root / f"{name}-dying.log")
        dying.wait_dead(STARTUP_SECONDS)
        _assert_died_at(calls_file, line)
        if problems := recover(bench, data, f"{name}-restarted"):
            failures[line[:120]] = problems
        shutil.rmtree(data, ignore_errors=True)
    assert not failures, "\n".join(f"{point}: {problems}" for point, problems in failures.items())
