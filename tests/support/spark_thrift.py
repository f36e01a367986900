"""A throwaway Spark Thrift Server (the HiveServer2 protocol) on loopback, for the Hive tests.

Why this server: no Apache mirror can be reached here, but the pip ``pyspark`` package ships
every jar of Spark's Hive Thrift Server (hive-service, hive-metastore 2.3, Derby), so
``spark-submit --class org.apache.spark.sql.hive.thriftserver.HiveThriftServer2
spark-internal`` runs a HiveServer2-compatible endpoint with an embedded Derby metastore.
Startup measured here: ~16 s from exec to the port answering on 2 cores (the first session
then takes ~3 s more while the JVM warms up).

Everything it writes stays in one temporary directory: the warehouse
(``spark.sql.warehouse.dir``), the Derby metastore (``-Dderby.system.home``, and the working
directory, where ``derby.log`` lands), Spark's scratch space (``spark.local.dir``) and the
log. The server runs in its own process group, is stopped with SIGTERM and then SIGKILL,
and dies with the test process (PR_SET_PDEATHSIG) if pytest is killed.

Usage::

    with SparkThriftServer() as server:
        HiveServer2Hive(server.host, server.port, warehouse=server.warehouse_uri)
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from tests.support.processes import die_with_parent, free_port

__all__ = ["SparkThriftServer", "SparkUnavailable", "find_spark_home", "pyspark_available"]

THRIFT_SERVER_CLASS = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"
START_TIMEOUT_S = 90.0  # measured ~16 s; generous for a loaded CI machine, still bounded
STOP_TIMEOUT_S = 20.0
KEYSTORE_PASSWORD = b"test-hs2-keystore"  # a throwaway server's, on the command line


class SparkUnavailable(RuntimeError):
    """pyspark (with its jars) or Java is missing, or the server did not start."""


def pyspark_available() -> bool:
    return importlib.util.find_spec("pyspark") is not None


def find_spark_home() -> Path:
    """The installed pyspark package directory: it is a complete SPARK_HOME (bin/, jars/)."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise SparkUnavailable("pyspark is not installed")
    home = Path(next(iter(spec.submodule_search_locations)))
    if not (home / "bin" / "spark-submit").is_file() or not (home / "jars").is_dir():
        raise SparkUnavailable(f"{home} has no bin/spark-submit or jars/")
    if not any((home / "jars").glob("spark-hive-thriftserver_*.jar")):
        raise SparkUnavailable(f"{home}/jars has no spark-hive-thriftserver jar")
    return home


def find_java_home() -> Path:
    """JAVA_HOME from ``$JAVA_HOME`` or the ``java`` on PATH (spark-class needs one; Debian's
    default-java link may be absent)."""
    env = os.environ.get("JAVA_HOME")
    if env and (Path(env) / "bin" / "java").is_file():
        return Path(env)
    java = shutil.which("java")
    if java is None:
        raise SparkUnavailable("no java on PATH (Spark needs Java 17+)")
    return Path(java).resolve().parent.parent


class SparkThriftServer:
    """One Spark Thrift Server with a Derby metastore in a temporary directory."""

    def __init__(
        self, base: Path | None = None, extra_conf: dict[str, str] | None = None, tls: bool = False
    ) -> None:
        self._own_base = base is None
        self.base = Path(base or tempfile.mkdtemp(prefix="hops-spark-thrift-"))
        self.warehouse = self.base / "warehouse"
        self.extra_conf = dict(extra_conf or {})
        self.host = "127.0.0.1"
        self.port = 0
        self.startup_seconds: float | None = None
        self.log_path = self.base / "thriftserver.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self.tls = tls
        self.ca_path = self.base / "tls" / "ca.pem"
        """With `tls`: the CA that issued the server's certificate (for 127.0.0.1)."""

    def _write_keystore(self) -> Path:
        """A CA and a server certificate for the server's address, the key and chain in a
        PKCS12 keystore (the password is the test's own), as the hive role builds one."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.serialization import pkcs12

        from tests.support.certificates import issue_ca, issue_server

        directory = self.base / "tls"
        directory.mkdir(parents=True, exist_ok=True)
        ca_key, ca = issue_ca("test HiveServer2 CA")
        key, cert = issue_server(ca_key, ca, self.host)
        self.ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        keystore = directory / "keystore.p12"
        keystore.write_bytes(
            pkcs12.serialize_key_and_certificates(
                b"host", key, cert, [ca], serialization.BestAvailableEncryption(KEYSTORE_PASSWORD)
            )
        )
        return keystore

    @property
    def warehouse_uri(self) -> str:
        return f"file:{self.warehouse}"

    def command(self) -> list[str]:
        home = find_spark_home()
        conf = {
            "spark.master": "local[2]",
            "spark.ui.enabled": "false",
            "spark.sql.warehouse.dir": str(self.warehouse),
            "spark.local.dir": str(self.base / "tmp"),
            "spark.driver.extraJavaOptions": f"-Dderby.system.home={self.base / 'derby'}",
            "spark.driver.memory": "768m",
            **self.extra_conf,
        }
        args = [str(home / "bin" / "spark-submit")]
        for key, value in conf.items():
            args += ["--conf", f"{key}={value}"]
        args += ["--class", THRIFT_SERVER_CLASS, "spark-internal"]
        args += ["--hiveconf", f"hive.server2.thrift.bind.host={self.host}"]
        args += ["--hiveconf", f"hive.server2.thrift.port={self.port}"]
        if self.tls:
            keystore = self.base / "tls" / "keystore.p12"
            args += ["--hiveconf", "hive.server2.use.SSL=true"]
            args += ["--hiveconf", f"hive.server2.keystore.path={keystore}"]
            args += ["--hiveconf", f"hive.server2.keystore.password={KEYSTORE_PASSWORD.decode()}"]
        return args

    def start(self) -> SparkThriftServer:
        if self._proc is not None:
            return self
        home = find_spark_home()
        for sub in ("warehouse", "derby", "tmp"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        if self.tls:
            self._write_keystore()
        env = {
            **os.environ,
            "SPARK_HOME": str(home),
            "JAVA_HOME": str(find_java_home()),
            "SPARK_LOCAL_IP": self.host,
            "SPARK_LOCAL_HOSTNAME": "localhost",
        }
        env.pop("PYSPARK_SUBMIT_ARGS", None)
        self.port = free_port()
        started = time.monotonic()
        with open(self.log_path, "wb") as log:
            self._proc = subprocess.Popen(
                self.command(),
                cwd=self.base / "derby",
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        deadline = started + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise SparkUnavailable(
                    f"Spark Thrift Server exited with {self._proc.returncode}:\n{self.log_tail()}"
                )
            if self._port_answers():
                self.startup_seconds = time.monotonic() - started
                return self
            time.sleep(0.25)
        self.stop()
        raise SparkUnavailable(
            f"Spark Thrift Server did not listen within {START_TIMEOUT_S:.0f} s:\n{self.log_tail()}"
        )

    def _port_answers(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            return sock.connect_ex((self.host, self.port)) == 0

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        if self._own_base:
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> SparkThriftServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
