"""What `bench/reads.py` and `bench/mixed.py` share: servers they start and stop themselves
(the control service, a FastAPI hello-world, a throwaway MariaDB), CPU pinning, accounts
seeded over the REST API, and the description of the machine and the code measured.

Every process is started in a session (process group) of its own, with its output in a log
file of the run's temporary directory, and stopped by `Managed.stop`: SIGTERM to the leader
(uvicorn's supervisor stops its workers, the MariaDB helper its server), then SIGKILL to
whatever of its group is left. The scripts stop them in `finally` blocks; SIGTERM to the
script is turned into KeyboardInterrupt so that those run then too, and each leader gets
SIGTERM from the kernel should the script die without running them (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from sqlalchemy.engine import make_url

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(1, str(REPO))
from api import PASSWORD, check, machine, require_loopback  # noqa: E402

from tests.support.processes import die_with_parent, free_port  # noqa: E402

console = Console(stderr=True)
SETUP_TIMEOUT = httpx.Timeout(60.0)
HELLO_WORLD = """\
from fastapi import FastAPI

app = FastAPI()


@app.get("/")
async def root():
    return {"message": "Hello World"}
"""
# Registration and login are never timed; cheap (still real) argon2 only shortens the seeding.
SERVICE_ENV = {
    "HOPS_REGISTRATION": "open",
    "HOPS_PASSWORD_TIME_COST": "1",
    "HOPS_PASSWORD_MEMORY_KIB": "64",
}


def hops_command() -> list[str]:
    """`.venv/bin/hops` next to the running interpreter (the project's venv)."""
    hops = Path(sys.executable).with_name("hops")
    if not hops.exists():
        hops = REPO / ".venv" / "bin" / "hops"
    return [str(hops)]


def stop_on_sigterm() -> None:
    """SIGTERM to the script becomes KeyboardInterrupt, so the `finally` blocks stop servers."""

    def _raise(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _raise)


def loopback_host(host: str) -> str:
    require_loopback(f"http://{host}:1")
    return host


def check_db_url(url: str | None) -> str | None:
    """Refuse a database URL naming another host (a unix socket or loopback only)."""
    if url is None:
        return None
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" and parsed.host:
        require_loopback(f"http://{parsed.host}:1")
    return url


# ---------------------------------------------------------------------------- CPUs


@dataclass
class CpuPlan:
    """Where wrk and the servers run: pinned (client on a core of its own) or not."""

    cores: list[int]
    client: list[int] | None
    server: list[int] | None
    note: str

    @property
    def pinned(self) -> bool:
        return self.client is not None

    def describe(self) -> str:
        if not self.pinned:
            return "unpinned"
        return f"client on {fmt_cpus(self.client)}, servers on {fmt_cpus(self.server)}"


def fmt_cpus(cpus: Sequence[int] | None) -> str:
    return ",".join(str(c) for c in cpus) if cpus else "-"


def cpu_plan(workers: int, pin: bool = True) -> CpuPlan:
    """The client on the last usable core and the servers on the others, when there are at
    least workers + 1 of them (and `taskset` exists); otherwise nothing is pinned."""
    cores = sorted(os.sched_getaffinity(0))
    if not pin:
        return CpuPlan(cores, None, None, "pinning off (--no-pin)")
    if not _has_taskset():
        return CpuPlan(cores, None, None, "taskset not found: unpinned")
    if len(cores) < workers + 1:
        return CpuPlan(
            cores,
            None,
            None,
            f"{len(cores)} cores < {workers} workers + 1 client core: unpinned, "
            "client and servers share the cores",
        )
    return CpuPlan(cores, [cores[-1]], cores[:-1], "client has a core of its own")


def _has_taskset() -> bool:
    return any((Path(d) / "taskset").exists() for d in os.get_exec_path())


def taskset(cpus: Sequence[int] | None) -> list[str]:
    return ["taskset", "-c", fmt_cpus(cpus)] if cpus else []


# ---------------------------------------------------------------------------- processes


class Managed:
    """A process in its own process group, output in `log`; `stop()` ends the whole group."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        log: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        stdout_pipe: bool = False,
    ) -> None:
        self.name = name
        self.command = list(command)
        self.log = log
        self._log_handle = open(log, "wb")  # noqa: SIM115 (closed by stop)
        self.proc = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE if stdout_pipe else self._log_handle,
            stderr=self._log_handle,
            env=env,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=die_with_parent,  # started from the main thread
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, lines: int = 20) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace_s: float = 20.0) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                console.print(f"[yellow]{self.name} ignored SIGTERM for {grace_s:g} s: SIGKILL[/]")
        # the group outlives its leader while any member is left (workers, mariadbd)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log_handle.close()


def _server_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without its HOPS_* settings (they would change what is
    measured), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOPS_")}
    env.update(extra or {})
    return env


def wait_ready(proc: Managed, url: str, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not proc.alive():
            raise SystemExit(f"{proc.name} exited with {proc.proc.returncode}:\n{proc.tail()}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{proc.name} did not answer {url} within {timeout_s:g} s:\n{proc.tail()}")


@dataclass
class Server:
    url: str
    proc: Managed


def start_service(
    data_dir: Path,
    log_dir: Path,
    *,
    host: str = "127.0.0.1",
    workers: int = 1,
    db: str | None = None,
    cpus: Sequence[int] | None = None,
    label: str = "hops serve",
) -> Server:
    """`hops serve` on a free port; returns once /api/health answers 200 (each worker of
    several answers soon after: the callers warm up before timing)."""
    port = free_port()
    command = [*hops_command(), "serve", "--host", host, "--port", str(port)]
    command += ["--data-dir", str(data_dir), "--workers", str(workers)]
    if db:
        command += ["--db", db]
    log = log_dir / f"{label.replace(' ', '-')}-{port}.log"
    proc = Managed(label, [*taskset(cpus), *command], log, env=_server_env(SERVICE_ENV))
    url = f"http://{host}:{port}"
    try:
        wait_ready(proc, f"{url}/api/health")
    except BaseException:
        proc.stop()
        raise
    return Server(url, proc)


def start_hello(
    app_dir: Path,
    log_dir: Path,
    *,
    host: str = "127.0.0.1",
    workers: int = 1,
    cpus: Sequence[int] | None = None,
) -> Server:
    """FastAPI's hello-world under uvicorn from this venv: same worker count, no access log,
    uvicorn's default loop and HTTP implementation (as `hops serve` uses them)."""
    (app_dir / "hello_world.py").write_text(HELLO_WORLD)
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "hello_world:app", "--app-dir", str(app_dir)]
    command += ["--host", host, "--port", str(port), "--workers", str(workers)]
    command += ["--no-access-log", "--log-level", "warning"]
    log = log_dir / f"hello-world-{port}.log"
    proc = Managed("hello-world", [*taskset(cpus), *command], log, env=_server_env())
    url = f"http://{host}:{port}"
    try:
        wait_ready(proc, f"{url}/")
    except BaseException:
        proc.stop()
        raise
    return Server(url, proc)


def start_mariadb(log_dir: Path, cpus: Sequence[int] | None = None) -> tuple[str, Managed]:
    """`python -m tests.support.mariadb` (a throwaway server on loopback): its first stdout
    line is HOPS_DATABASE_URL=...; it removes its directory on SIGTERM."""
    command = [*taskset(cpus), sys.executable, "-m", "tests.support.mariadb"]
    proc = Managed("mariadb", command, log_dir / "mariadb.log", cwd=REPO, stdout_pipe=True)
    try:
        assert proc.proc.stdout is not None
        deadline = time.monotonic() + 600  # may wait for a package install in progress
        line = b""
        while time.monotonic() < deadline and proc.alive():
            ready, _, _ = select.select([proc.proc.stdout], [], [], 1.0)
            if ready:
                line = proc.proc.stdout.readline()
                break
        text = line.decode().strip()
        if not text.startswith("HOPS_DATABASE_URL="):
            raise SystemExit(f"the MariaDB helper did not start:\n{text}\n{proc.tail()}")
        return check_db_url(text.split("=", 1)[1]) or "", proc
    except BaseException:
        proc.stop()
        raise


# ---------------------------------------------------------------------------- accounts


@dataclass
class Account:
    email: str
    token: str
    key: str

    @property
    def key_header(self) -> dict[str, str]:
        return {"Authorization": f"ApiKey {self.key}"}

    @property
    def bearer_header(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def register(client: httpx.Client, email: str) -> None:
    body = {"email": email, "password": PASSWORD}
    check(client.post("/api/auth/register", json=body), 201, f"register {email}")


def make_account(client: httpx.Client, email: str, key_name: str = "bench") -> Account:
    """Register, log in and create an API key (`Authorization: ApiKey <key>`)."""
    register(client, email)
    body = {"email": email, "password": PASSWORD}
    token = check(client.post("/api/auth/login", json=body), 200, f"login {email}").json()[
        "access_token"
    ]
    reply = client.post(
        "/api/auth/api-keys",
        json={"name": key_name},
        headers={"Authorization": f"Bearer {token}"},
    )
    key = check(reply, 201, f"API key of {email}").json()["key"]
    return Account(email, token, key)


def take_admin_seat(client: httpx.Client, run_id: str) -> None:
    """The very first account is always a platform admin: register an unused one, so that
    the measured accounts are ordinary users (no admin short cut in authorization)."""
    email = f"bench-admin-{run_id}@example.org"
    reply = client.post("/api/auth/register", json={"email": email, "password": PASSWORD})
    if reply.status_code not in (201, 409):
        check(reply, 201, f"register {email}")


# ---------------------------------------------------------------------------- description


def _run(command: Sequence[str]) -> str:
    try:
        return subprocess.run(
            command, capture_output=True, text=True, timeout=30, cwd=REPO, check=False
        ).stdout.rstrip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def environment() -> dict[str, Any]:
    """The machine, the versions and the code measured (with the working tree's edits)."""
    dirty = [line[3:] for line in _run(["git", "status", "--porcelain", "-uno"]).splitlines()]
    info = machine()
    info.update(
        usable_cores=len(os.sched_getaffinity(0)),
        os=platform.platform(),
        fastapi=_version("fastapi"),
        starlette=_version("starlette"),
        uvicorn=_version("uvicorn"),
        uvloop=_version("uvloop"),
        httptools=_version("httptools"),
        sqlalchemy=_version("sqlalchemy"),
        wrk=" ".join(_run(["wrk", "--version"]).split()[:2]) or "not found",
        git_commit=_run(["git", "rev-parse", "--short", "HEAD"]).strip(),
        git_modified_files=dirty,
    )
    return info


def print_environment(out: Console, info: dict[str, Any]) -> None:
    modified = info["git_modified_files"]
    out.print(
        f"machine: {info['cpus']} CPUs ({info['usable_cores']} usable, {info['cpu']}), "
        f"{info['memory_gib']} GiB, {info['os']}"
    )
    out.print(
        f"Python {info['python']}, FastAPI {info['fastapi']}, Starlette {info['starlette']}, "
        f"uvicorn {info['uvicorn']} (uvloop {info['uvloop']}, httptools {info['httptools']}), "
        f"SQLAlchemy {info['sqlalchemy']}, httpx {info['httpx']}; {info['wrk']}"
    )
    out.print(
        f"code: commit {info['git_commit']}"
        + (
            f" plus uncommitted edits in {len(modified)} file(s): {', '.join(modified)}"
            if modified
            else " (clean working tree)"
        )
    )


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run_script(main: Callable[[], int]) -> None:
    """Exit with `main()`'s status; Ctrl-C (or SIGTERM) exits 130 once the `finally` blocks
    have stopped what the script started."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        console.print("[yellow]interrupted; what the script started is stopped[/]")
        sys.exit(130)


def add_database_options(parser: Any) -> None:
    """`--db URL` or `--mariadb` (a throwaway server); neither: the embedded SQLite."""
    db = parser.add_mutually_exclusive_group()
    db.add_argument("--db", default=None, help="SQLAlchemy URL of a loopback MariaDB")
    db.add_argument(
        "--mariadb", action="store_true", help="start a throwaway MariaDB (tests.support.mariadb)"
    )
