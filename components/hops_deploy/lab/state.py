"""The lab's state file: what `up` created, recorded as it creates it, so that `status` and
`down` work from another process (and `down` can clean up after an `up` that crashed).

Why write after every step: a lab half-built when `up` was killed must still be removable;
whatever is in the file exists, whatever is not was never created.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hops_deploy.lab.processes import ProcessRef

DEFAULT_CACHE_DIR = Path("/var/cache/hops-lab")
STATE_FILE = "state.json"


def lab_dir(cache_dir: Path, name: str) -> Path:
    """Where one lab's run files live (state, ssh key, host layers, logs)."""
    return cache_dir / "labs" / name


def _ref(data: dict[str, int] | None) -> ProcessRef | None:
    return ProcessRef(data["pid"], data["start"]) if data else None


@dataclass
class HostState:
    """One host: its address, where its layers are (`base`, see hosts.HostPaths), whether
    its tree is mounted and which supervisor keeps it running."""

    name: str
    index: int
    address: str
    base: str
    mounted: bool = False
    supervisor: ProcessRef | None = None


@dataclass
class ServiceState:
    """A daemon `up` started for the hosts (apt proxy, wheelhouse server)."""

    ref: ProcessRef
    url: str


@dataclass
class LabState:
    """One lab. A field is set only once the thing it names exists; `ready` once `up`
    finished (a state that is not ready is a crashed or running `up`)."""

    name: str
    cache_dir: str
    subnet: str | None = None
    bridge: str | None = None
    bridge_address: str | None = None
    ssh_key: str | None = None
    rootfs: str | None = None
    hosts: list[HostState] = field(default_factory=list)
    services: dict[str, ServiceState] = field(default_factory=dict)
    inventory: str | None = None
    inventory_sha256: str | None = None
    created: float = field(default_factory=time.time)
    ready: bool = False

    @property
    def dir(self) -> Path:
        return lab_dir(Path(self.cache_dir), self.name)

    @property
    def path(self) -> Path:
        return self.dir / STATE_FILE

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> LabState:
        data: dict[str, Any] = json.loads(text)
        hosts = [
            HostState(**{**h, "supervisor": _ref(h.get("supervisor"))}) for h in data.pop("hosts")
        ]
        services = {
            k: ServiceState(ref=ProcessRef(**v["ref"]), url=v["url"])
            for k, v in data.pop("services").items()
        }
        return cls(**data, hosts=hosts, services=services)

    def save(self) -> None:
        """Atomically replace the state file (a reader never sees half a file)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        partial.write_text(self.to_json())
        os.replace(partial, self.path)

    def host(self, name: str) -> HostState:
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(name)


def load(cache_dir: Path, name: str) -> LabState | None:
    """The state of lab `name`, or None if no such lab was brought up."""
    path = lab_dir(cache_dir, name) / STATE_FILE
    if not path.exists():
        return None
    return LabState.from_json(path.read_text())


def remove(state: LabState) -> None:
    state.path.unlink(missing_ok=True)


def lab_names(cache_dir: Path) -> list[str]:
    """Names of the labs that have a state file."""
    labs = cache_dir / "labs"
    return sorted(p.parent.name for p in labs.glob(f"*/{STATE_FILE}")) if labs.is_dir() else []
