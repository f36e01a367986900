"""The real service in a process that can be told to die at its N-th backend change.

`Launcher` starts `python -m tests.support.crashing_server` once: that process imports the
service and then forks one server per `Launcher.start` (a second import per server would
cost more than a crash run itself). Each server reads the usual `HOPS_*` settings from the
environment it is given. Every state-changing method of every backend (each Protocol method of
`Backends` that is not known to only read) is wrapped: it appends one line naming itself to
the file `HOPS_TEST_CALLS_FILE`, and the `HOPS_TEST_CRASH_AT`-th such call SIGKILLs the
process before the call reaches the backend (`HOPS_TEST_CRASH_WHEN=before`) or right after
it returned (`after`). Without `HOPS_TEST_CRASH_AT` the calls are only counted. A call a
backend makes to its own methods is part of the outer call, not another crash point.

Test-only code: the product never wraps its backends.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

from tests.support.processes import die_with_parent

CALLS_FILE = "HOPS_TEST_CALLS_FILE"
CRASH_AT = "HOPS_TEST_CRASH_AT"
CRASH_WHEN = "HOPS_TEST_CRASH_WHEN"

# Protocol methods that only read. Everything else is a crash point, so a method added to
# a backend later is covered without anyone remembering this list.
READ_ONLY = frozenset(
    {
        "stat",
        "list_dir",
        "open_read",
        "usage",
        "project_exists",
        "share_groups",
        "database_exists",
        "describe",
        "list_grants",
        "list_project_databases",
        "list_topics",
        "topic_exists",
        "describe_acls",
        "queue_info",
        "list_project_queues",
        "application_usage",
        "describe_project",
        "list_projects",
    }
)


def mutating_methods(protocol: type) -> list[str]:
    return sorted(
        name
        for name, value in vars(protocol).items()
        if callable(value) and not name.startswith("_") and name not in READ_ONLY
    )


class Tripwire:
    """Counts the mutating calls of one process and kills it at the chosen one."""

    def __init__(self, calls_file: Path, crash_at: int | None, when: str) -> None:
        if when not in ("before", "after"):
            raise ValueError(f"{CRASH_WHEN} must be before or after, not {when!r}")
        self._calls = calls_file.open("a", buffering=1)  # a line reaches the kernel at once
        self._crash_at = crash_at
        self._when = when
        self._count = 0
        self._lock = threading.Lock()
        self._inside = threading.local()

    def wrap(self, system: str, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def call(*args: Any, **kwargs: Any) -> Any:
            if getattr(self._inside, "active", False):  # the backend calling itself
                return method(*args, **kwargs)
            with self._lock:
                self._count += 1
                number = self._count
                # the arguments cut short: enough to tell calls apart, no member's key
                self._calls.write(f"{number} {system}.{name}{repr(args)[:100]}\n")
            if number == self._crash_at and self._when == "before":
                os.kill(os.getpid(), signal.SIGKILL)
            self._inside.active = True
            try:
                return method(*args, **kwargs)
            finally:
                self._inside.active = False
                if number == self._crash_at and self._when == "after":
                    os.kill(os.getpid(), signal.SIGKILL)

        return call

    def arm(self, backends: object) -> None:
        """Wrap on the instances, so every holder of a backend goes through the wrapper."""
        from hopsworks_api.backends.runner.kubernetes_servers import KubernetesServers

        # the cluster servers' type is imported lazily by the registry (only a Kubernetes
        # runner needs it); they are not built here, so they are not armed either
        hints = typing.get_type_hints(
            type(backends), localns={"KubernetesServers": KubernetesServers}
        )
        for system, protocol in hints.items():
            backend = getattr(backends, system)
            if backend is None:
                continue
            for name in mutating_methods(protocol):
                setattr(backend, name, self.wrap(system, name, getattr(backend, name)))


def serve() -> None:
    """One server process: the app as `hops serve` builds it, the backends armed if asked."""
    import uvicorn

    from hopsworks_api.config import Settings
    from hopsworks_api.logging_setup import configure_logging
    from hopsworks_api.main import build_runtime, create_app

    settings = Settings()
    configure_logging(json_output=settings.log_json)
    rt = build_runtime(settings)
    if os.environ.get(CALLS_FILE):
        crash_at = os.environ.get(CRASH_AT)
        Tripwire(
            Path(os.environ[CALLS_FILE]),
            int(crash_at) if crash_at else None,
            os.environ.get(CRASH_WHEN, "before"),
        ).arm(rt.backends)
    app = create_app(runtime=rt)
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False)


def _fork_server(env: dict[str, str], log: str) -> int:
    pid = os.fork()
    if pid:
        return pid
    status = 1
    try:  # the child: never returns into the zygote's loop
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        die_with_parent()
        os.environ.clear()
        os.environ.update(env)
        out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        serve()
        status = 0
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(status)


def zygote() -> None:
    """Import once, fork per request (one JSON line: env and log path), answer the pid.
    Children are reaped by the kernel (SIGCHLD ignored), so a dead server leaves no pid."""
    for module in ("uvicorn", "hopsworks_api.main", "hopsworks_api.logging_setup"):
        importlib.import_module(module)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    while line := sys.stdin.readline():
        request = json.loads(line)
        if threading.active_count() != 1:  # fork copies one thread; its locks could be held
            raise RuntimeError("the zygote must stay single-threaded")
        print(_fork_server(request["env"], request["log"]), flush=True)


@dataclass
class Server:
    pid: int
    base: str
    log: Path

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def wait_dead(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                raise AssertionError(f"server {self.pid} still running")
            time.sleep(0.02)

    def stop(self, sig: signal.Signals = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)
        self.wait_dead(30)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                raise AssertionError(f"server exited while starting:\n{self.tail()}")
            try:
                if httpx.get(f"{self.base}/api/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"server not up in {timeout} s:\n{self.tail()}")
            time.sleep(0.02)


class Launcher:
    """Starts servers from one zygote process; `close` ends it (and, with it, its servers)."""

    def __init__(self, log: Path) -> None:
        repo = Path(__file__).resolve().parents[2]
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.crashing_server"],
            cwd=repo,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log.open("ab"),
            preexec_fn=die_with_parent,
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._stdin: IO[bytes] = self._proc.stdin
        self._stdout: IO[bytes] = self._proc.stdout
        self._log = log

    def start(self, env: dict[str, str], port: int, log: Path) -> Server:
        request = {"env": {**env, "HOPS_PORT": str(port)}, "log": str(log)}
        self._stdin.write(json.dumps(request).encode() + b"\n")
        self._stdin.flush()
        answer = self._stdout.readline()
        if not answer:
            raise AssertionError(f"zygote died: {self._log.read_text(errors='replace')[-3000:]}")
        return Server(int(answer), f"http://127.0.0.1:{port}", log)

    def close(self) -> None:
        self._stdin.close()
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


if __name__ == "__main__":
    zygote()
