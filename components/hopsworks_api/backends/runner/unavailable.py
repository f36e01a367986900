"""The runner when none can serve the configured systems (the embedded one mounts datasets
from local disk, so it needs the embedded storage): every start is a clear 503."""

from __future__ import annotations

from pathlib import Path

from hopsworks_api.backends.runner.base import Outcome, RunHandle, RunSpec, Stream
from hopsworks_api.errors import Unavailable


class UnavailableRunner:
    datasets_dir = "/hopsfs"
    credentials_dir = "/credentials"
    scratch_dir = "/scratch"

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def check(self) -> None:
        raise Unavailable(self.reason, code="runner_unavailable")

    def start(self, spec: RunSpec) -> RunHandle:
        raise Unavailable(self.reason, code="runner_unavailable")

    def poll(self, handle: RunHandle) -> Outcome | None:
        raise Unavailable(self.reason, code="runner_unavailable")

    def wait(self, handle: RunHandle) -> Outcome:
        raise Unavailable(self.reason, code="runner_unavailable")

    def kill(self, handle: RunHandle, grace_seconds: float = 3.0) -> None:
        return None  # nothing of ours runs

    def log_path(self, handle: RunHandle, stream: Stream) -> Path:
        return handle.run_dir / f"{stream.value}.log"

    def scratch_path(self, handle: RunHandle) -> Path:
        return handle.run_dir / "scratch"

    def leftover(self, run_id: str) -> RunHandle | None:
        return None

    def cleanup(self, handle: RunHandle) -> None:
        return None
