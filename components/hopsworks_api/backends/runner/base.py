"""The runner contract: start a program in a sandbox that shows it only what the service
decided (the datasets it may read or write, its credentials), poll or wait for it, stop it.

The service decides *what* a run may see (authz); the runner decides *how* (bwrap here, a
YARN container or a Kubernetes pod later), so the rules stay in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol


class Stream(StrEnum):
    STDOUT = "stdout"
    STDERR = "stderr"


CREDENTIALS_IDENTITY = "identity.pem"
"""A run's credentials file with the member's key, certificate and CA chain in one PEM."""
CREDENTIALS_TRUSTSTORE = "ca_chain.p12"
"""A run's credentials file with the CA chain as a PKCS12 truststore without password."""


@dataclass(frozen=True)
class DatasetMount:
    """One of the project's datasets, shown at `<datasets dir>/<dataset>`; or, with `owner`,
    the dataset `owner` shared with the project, shown as the API names it to the receiving
    project (`<owner>::<dataset>`)."""

    dataset: str
    writable: bool
    owner: str | None = None

    @property
    def name(self) -> str:
        return self.dataset if self.owner is None else f"{self.owner}::{self.dataset}"


@dataclass(frozen=True)
class Endpoint:
    """A platform service (host and TCP port) a run may reach; nothing else is reachable."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Limits:
    """What the run's process tree may use at most (None: no limit of that kind)."""

    cores: float | None = None
    memory_mb: int | None = None


@dataclass(frozen=True)
class JobApp:
    """The job as its owner described it, for runners that hand it to a cluster (YARN,
    Kubernetes) and so build their own submission instead of running `RunSpec.argv` here."""

    job: str
    type: str
    """`python`, `pyspark` or `spark` (jobs.models.JobType)."""
    app_path: str
    """`<dataset>/<path>` inside the project."""
    main_class: str | None = None
    args: tuple[str, ...] = ()
    cores: int = 1
    memory_mb: int = 1024
    gpus: int = 0
    executors: int = 1
    executor_cores: int = 1
    executor_memory_mb: int = 1024


@dataclass(frozen=True)
class RunSpec:
    run_id: str
    """Unique per run (the execution id); names the run's directory."""
    project: str
    identity: str
    """`<project>__<user>`, the run's identity (HOPS_USER)."""
    interpreter: Path
    """The environment's `bin/python`: its prefix (and the one it links to) is shown."""
    argv: list[str]
    """The command as the sandbox sees it: paths under the datasets dir."""
    mounts: list[DatasetMount]
    credentials: dict[str, bytes] = field(default_factory=dict)
    """File name -> content, materialised 0600 in a 0700 directory for the run only."""
    env: dict[str, str] = field(default_factory=dict)
    endpoints: tuple[Endpoint, ...] = ()
    """The platform services the run may reach, by their own names (`forward`)."""
    limits: Limits = field(default_factory=Limits)
    app: JobApp | None = None
    """Set for job runs: what cluster runners submit (the embedded runner runs `argv`)."""


@dataclass(frozen=True)
class RunHandle:
    run_id: str
    pid: int
    run_dir: Path

    def describe(self) -> str:
        return f"pid {self.pid} in {self.run_dir}"


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    """Negative: killed by that signal."""
    cpu_seconds: float


class JobRunner(Protocol):
    datasets_dir: str
    """Where the datasets appear inside the sandbox (HOPS_DATASETS_DIR)."""
    credentials_dir: str
    """Where the credentials appear inside the sandbox (HOPS_CREDENTIALS_DIR)."""
    scratch_dir: str
    """The run's working directory inside the sandbox (HOME); a server listens on a unix
    socket there (notebooks), which the service reaches at `scratch_path`."""

    def check(self) -> None:
        """Raise `Unavailable` (503) if runs cannot start here, before anything is recorded."""
        ...

    def start(self, spec: RunSpec) -> RunHandle: ...
    def poll(self, handle: RunHandle) -> Outcome | None:
        """The outcome once the run ended, None while it runs (never blocks)."""
        ...

    def wait(self, handle: RunHandle) -> Outcome:
        """Block until the run ends (a monitor thread calls this)."""
        ...

    def kill(self, handle: RunHandle, grace_seconds: float = ...) -> None:
        """SIGTERM the program, SIGKILL it if it is still there after `grace_seconds`."""
        ...

    def log_path(self, handle: RunHandle, stream: Stream) -> Path:
        """The file the stream is written to while the run lasts (readable meanwhile)."""
        ...

    def scratch_path(self, handle: RunHandle) -> Path:
        """Where the run's `scratch_dir` is on this host, while the run lasts."""
        ...

    def leftover(self, run_id: str) -> RunHandle | None:
        """The directory a run of an earlier process of the service left (it died with that
        process), so its logs can be kept and its credentials removed; None if there is none."""
        ...

    def cleanup(self, handle: RunHandle) -> None:
        """Remove the credentials and the run's directory (logs included: copy them first)."""
        ...
