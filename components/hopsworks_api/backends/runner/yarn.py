"""Runs pyspark and spark jobs on YARN: `spark-submit --master yarn --deploy-mode cluster`.

Written against Apache Spark's "Running Spark on YARN" and Apache Hadoop 3.x's
"ResourceManager REST API's" documents; no ResourceManager runs here, so the REST side is
tested against `tests/support/yarn_fake.py` and the submission side by running the real
`spark-submit` against a local listener (docs/jobs-cluster.md says what that leaves out).

A run:

- the run's credentials (`RunSpec.credentials`: PEM and PKCS#12 bundle, passwords) are
  materialised 0600 in `<run dir>/credentials` (0700), and a Hadoop client configuration
  is rendered for the run only in `<run dir>/hadoop-conf`: `yarn-site.xml` (the
  ResourceManager client addresses, HA when there are several), `core-site.xml`
  (`fs.defaultFS`) and `ssl-client.xml` (the run's keystore and truststore, PKCS#12, and
  their passwords). Spark ships that directory to the application master itself.
- `spark-submit` (the job environment's own, next to its `bin/python`) is started as the
  project user (`HADOOP_USER_NAME=<project>__<user>`: simple authentication) into the
  project's queue (`--queue <project>`, the leaf `YarnCompute` creates), with the credential
  files shipped to the containers (`--files`, so `HOPS_CREDENTIALS_DIR` is the container's
  working directory) and `spark.yarn.submit.waitAppCompletion=true`, so it keeps running
  and reporting until the application ends.
- the application id is read from spark-submit's own log ("Submitted application
  application_..."), kept in `<run dir>/application_id` (a restarted service finds it
  there), and from then on the application's state and usage come from the
  ResourceManager (`GET /ws/v1/cluster/apps/{id}`); stop is
  `PUT /ws/v1/cluster/apps/{id}/state {"state": "KILLED"}` as the project user.
- the execution's logs are spark-submit's stdout/stderr: the YARN client's reports
  (submission, `Application report ... (state: RUNNING)`, the final status with the
  ResourceManager's diagnostics and tracking URL). What the program itself prints goes to
  the driver container's log on the NodeManager (YARN log aggregation), not here.

`python` jobs are refused (400 `job_type_unsupported`): they have no YARN form, and this
runner is chosen for deployments whose datasets are on HDFS, which the embedded sandbox
cannot mount (docs/decisions.md).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
import threading
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from hopsworks_api.backends.compute.base import check_project
from hopsworks_api.backends.errors import BackendUnavailable
from hopsworks_api.backends.http import make_client, send
from hopsworks_api.backends.runner.base import JobApp, Outcome, RunHandle, RunSpec, Stream
from hopsworks_api.errors import BadRequest

log = logging.getLogger(__name__)

SYSTEM = "yarn"
APPS = "/ws/v1/cluster/apps"
RM_CLIENT_PORT = 8032  # yarn.resourcemanager.address's default port
FINAL_STATES = frozenset({"FINISHED", "FAILED", "KILLED"})
SUBMITTED_RE = re.compile(rb"Submitted application (application_\d+_\d+)")
APPLICATION_ID_RE = re.compile(r"^application_\d+_\d+$")
KILLED_EXIT = -signal.SIGTERM


def cluster_env(env: dict[str, str]) -> dict[str, str]:
    """What of the service's environment for a run goes to containers on other hosts: the
    `HOPS_*` variables only. The rest names this host (interpreter paths, SPARK_HOME, the
    sandbox's loopback-only Spark settings) and would break a container elsewhere."""
    return {key: value for key, value in env.items() if key.startswith("HOPS_")}


def hadoop_xml(properties: dict[str, str]) -> bytes:
    """A Hadoop configuration file: `<configuration><property><name/><value/>...`."""
    root = ET.Element("configuration")
    for name, value in properties.items():
        prop = ET.SubElement(root, "property")
        ET.SubElement(prop, "name").text = name
        ET.SubElement(prop, "value").text = value
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def yarn_site(rm_addresses: list[str], web_url: str) -> dict[str, str]:
    """Client side of the ResourceManager(s): one address, or an HA pair (or more) the YARN
    client fails over between (`ConfiguredRMFailoverProxyProvider`, Hadoop's
    "ResourceManager High Availability" document)."""
    web = urlsplit(web_url)
    web_address = f"{web.hostname}:{web.port or (443 if web.scheme == 'https' else 80)}"
    web_key = (
        "yarn.resourcemanager.webapp.https.address"
        if web.scheme == "https"
        else "yarn.resourcemanager.webapp.address"
    )
    conf = {"yarn.http.policy": "HTTPS_ONLY" if web.scheme == "https" else "HTTP_ONLY"}
    if len(rm_addresses) == 1:
        return {**conf, "yarn.resourcemanager.address": rm_addresses[0], web_key: web_address}
    ids = [f"rm{n}" for n in range(1, len(rm_addresses) + 1)]
    conf |= {
        "yarn.resourcemanager.ha.enabled": "true",
        "yarn.resourcemanager.ha.rm-ids": ",".join(ids),
    }
    for rm_id, address in zip(ids, rm_addresses, strict=True):
        conf[f"yarn.resourcemanager.hostname.{rm_id}"] = address.rsplit(":", 1)[0]
        conf[f"yarn.resourcemanager.address.{rm_id}"] = address
    return conf


def ssl_client(credentials: Path, files: dict[str, bytes]) -> dict[str, str]:
    """Hadoop's `ssl-client.xml` keys (see its `ssl-client.xml.example`) for the run's own
    PKCS#12 keystore and truststore."""

    def password(name: str) -> str:
        return files.get(name, b"").decode().strip()

    return {
        "ssl.client.keystore.location": str(credentials / "keystore.p12"),
        "ssl.client.keystore.password": password("keystore.password"),
        "ssl.client.keystore.keypassword": password("keystore.password"),
        "ssl.client.keystore.type": "pkcs12",
        "ssl.client.truststore.location": str(credentials / "truststore.p12"),
        "ssl.client.truststore.password": password("truststore.password"),
        "ssl.client.truststore.type": "pkcs12",
    }


class _Run:
    def __init__(self, process: subprocess.Popen[bytes], identity: str) -> None:
        self.process = process
        self.identity = identity
        self.outcome: Outcome | None = None
        self.done = threading.Event()


class YarnRunner:
    """`JobRunner` for YARN.

    runs_dir       where each run's directory (logs, credentials, Hadoop conf) is made.
    rm_url         the ResourceManager's web address (HOPS_YARN_URL), for the REST calls.
    rm_addresses   its client RPC address(es), host:port, for spark-submit.
    default_fs     fs.defaultFS; app files are `<it>/Projects/<project>/<dataset>/<path>`.
    python         spark.pyspark.python on the NodeManagers.
    poll_seconds   how often a running application's state is read.
    """

    credentials_dir = "."  # --files land in the container's working directory

    def __init__(
        self,
        runs_dir: Path,
        *,
        rm_url: str,
        rm_addresses: list[str] | None = None,
        default_fs: str,
        python: str = "python3",
        timeout: float = 5.0,
        connect_timeout: float = 3.0,
        poll_seconds: float = 2.0,
        verify: bool = True,
        ca_file: str | None = None,
    ) -> None:
        self.runs_dir = runs_dir
        self.rm_url = rm_url
        host = urlsplit(rm_url).hostname or "localhost"
        self.rm_addresses = list(rm_addresses or [f"{host}:{RM_CLIENT_PORT}"])
        self.projects_url = f"{default_fs.rstrip('/')}/Projects"
        # the projects' root; a run's own HOPS_DATASETS_DIR is `<it>/<project>`
        self.datasets_dir = self.projects_url
        self.default_fs = default_fs
        self.python = python
        self.poll_seconds = poll_seconds
        self._client = make_client(
            rm_url,
            timeout=timeout,
            connect_timeout=connect_timeout,
            verify=verify,
            ca_file=ca_file,
            headers={"Accept": "application/json"},
        )
        self._runs: dict[str, _Run] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()

    def close(self) -> None:
        self._closed.set()
        self._client.close()

    def check(self) -> None:
        return None  # the ResourceManager's answer to the submission says more

    # -- the submission -----------------------------------------------------------------

    def _app(self, spec: RunSpec) -> JobApp:
        app = spec.app
        if app is None or app.type not in ("pyspark", "spark"):
            kind = app.type if app is not None else "this run"
            raise BadRequest(
                f"'{kind}' jobs cannot run on YARN: only 'pyspark' and 'spark' jobs are "
                "submitted to the cluster (HOPS_JOB_RUNNER=yarn)",
                code="job_type_unsupported",
            )
        if app.type == "spark" and not app.main_class:
            raise BadRequest("a 'spark' job needs a main_class", code="bad_main_class")
        return app

    def hadoop_conf(self, spec: RunSpec, run_dir: Path) -> dict[str, dict[str, str]]:
        """The Hadoop client configuration of the run, file name -> properties."""
        return {
            "yarn-site.xml": yarn_site(self.rm_addresses, self.rm_url),
            "core-site.xml": {
                "fs.defaultFS": self.default_fs,
                "hadoop.security.authentication": "simple",
                "hadoop.ssl.client.conf": "ssl-client.xml",
            },
            "ssl-client.xml": ssl_client(run_dir / "credentials", spec.credentials),
        }

    def command(self, spec: RunSpec, run_dir: Path) -> list[str]:
        """The spark-submit command line of the run."""
        app = self._app(spec)
        queue = check_project(spec.project)
        env = {
            **cluster_env(spec.env),
            "HOPS_PROJECT": spec.project,
            "HOPS_USER": spec.identity,
            "HOPS_DATASETS_DIR": f"{self.projects_url}/{spec.project}",
            "HOPS_CREDENTIALS_DIR": self.credentials_dir,
        }
        conf = {
            "spark.yarn.submit.waitAppCompletion": "true",
            "spark.yarn.tags": f"hops-execution-{spec.run_id}",
            "spark.pyspark.python": self.python,
        }
        for key, value in sorted(env.items()):
            conf[f"spark.yarn.appMasterEnv.{key}"] = value
            conf[f"spark.executorEnv.{key}"] = value
        if app.gpus:
            conf["spark.driver.resource.gpu.amount"] = str(app.gpus)
        shipped = [str(run_dir / "credentials" / name) for name in sorted(spec.credentials)]
        argv = [
            str(spec.interpreter.parent / "spark-submit"),
            "--master",
            "yarn",
            "--deploy-mode",
            "cluster",
            "--queue",
            queue,
            "--name",
            f"{spec.project}:{app.job}:{spec.run_id}",
            "--driver-cores",
            str(app.cores),
            "--driver-memory",
            f"{app.memory_mb}m",
            "--num-executors",
            str(app.executors),
            "--executor-cores",
            str(app.executor_cores),
            "--executor-memory",
            f"{app.executor_memory_mb}m",
        ]
        if shipped:
            argv += ["--files", ",".join(shipped)]
        for key, value in conf.items():
            argv += ["--conf", f"{key}={value}"]
        if app.type == "spark":
            argv += ["--class", str(app.main_class)]
        return [*argv, f"{self.projects_url}/{spec.project}/{app.app_path}", *app.args]

    def start(self, spec: RunSpec) -> RunHandle:
        argv = self.command(spec, self.runs_dir / spec.run_id)  # refuses before any change
        run_dir = self.runs_dir / spec.run_id
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True, mode=0o700)
        credentials = run_dir / "credentials"
        credentials.mkdir(mode=0o700)
        for name, content in spec.credentials.items():
            fd = os.open(credentials / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
        conf_dir = run_dir / "hadoop-conf"
        conf_dir.mkdir(mode=0o700)
        for name, properties in self.hadoop_conf(spec, run_dir).items():
            fd = os.open(conf_dir / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(hadoop_xml(properties))
        (run_dir / "identity").write_text(spec.identity)
        scratch = run_dir / "scratch"
        scratch.mkdir(mode=0o700)
        env = {
            "PATH": f"{spec.interpreter.parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(scratch),
            "LANG": "C.UTF-8",
            "HADOOP_CONF_DIR": str(conf_dir),
            "YARN_CONF_DIR": str(conf_dir),
            "HADOOP_USER_NAME": spec.identity,
            "PYSPARK_PYTHON": str(spec.interpreter),  # how pip's spark-submit finds SPARK_HOME
        }
        if "JAVA_HOME" in os.environ:
            env["JAVA_HOME"] = os.environ["JAVA_HOME"]
        with (
            open(run_dir / "stdout.log", "wb") as out,
            open(run_dir / "stderr.log", "wb") as err,
        ):
            process = subprocess.Popen(  # noqa: S603 - a fixed program, no shell
                argv,
                cwd=scratch,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                close_fds=True,
                env=env,
            )
        with self._lock:
            self._runs[spec.run_id] = _Run(process, spec.identity)
        return RunHandle(run_id=spec.run_id, pid=0, run_dir=run_dir)

    # -- the ResourceManager --------------------------------------------------------------

    def application_id(self, handle: RunHandle) -> str | None:
        """From the run's record, else from spark-submit's log (then recorded)."""
        record = handle.run_dir / "application_id"
        with contextlib.suppress(FileNotFoundError):
            found = record.read_text().strip()
            if APPLICATION_ID_RE.fullmatch(found):
                return found
        for stream in Stream:
            try:
                match = SUBMITTED_RE.search(self.log_path(handle, stream).read_bytes())
            except FileNotFoundError:
                continue
            if match:
                app_id = match.group(1).decode()
                with contextlib.suppress(OSError):
                    record.write_text(app_id)
                return app_id
        return None

    def _identity(self, handle: RunHandle) -> str:
        with self._lock:
            run = self._runs.get(handle.run_id)
        if run is not None:
            return run.identity
        return (handle.run_dir / "identity").read_text().strip()

    def application(self, app_id: str, user: str) -> dict[str, Any] | None:
        """`GET /ws/v1/cluster/apps/{id}` (Cluster Application API): the `app` object, None
        if the ResourceManager does not know it (never did, or forgot it)."""
        url = f"{APPS}/{quote(app_id, safe='')}"
        response = send(self._client, SYSTEM, "GET", url, params={"user.name": user})
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise BackendUnavailable(SYSTEM, f"GET {url} answered {response.status_code}")
        try:
            app = response.json().get("app")
        except ValueError as exc:
            raise BackendUnavailable(SYSTEM, f"GET {url}: unreadable answer") from exc
        if not isinstance(app, dict):
            raise BackendUnavailable(SYSTEM, f"GET {url}: no application in the answer")
        return app

    def kill_application(self, app_id: str, user: str) -> str | None:
        """`PUT /ws/v1/cluster/apps/{id}/state {"state": "KILLED"}` (Cluster Application
        State API): 202 while the kill is under way, 200 once the application is in a final
        state. The state answered; None if the ResourceManager does not know it."""
        url = f"{APPS}/{quote(app_id, safe='')}/state"
        response = send(
            self._client,
            SYSTEM,
            "PUT",
            url,
            params={"user.name": user},
            json={"state": "KILLED"},
        )
        if response.status_code == 404:
            return None
        if response.status_code == 403:
            raise BackendUnavailable(SYSTEM, f"{user} may not kill {app_id} (403)")
        if response.status_code not in (200, 202):
            raise BackendUnavailable(SYSTEM, f"PUT {url} answered {response.status_code}")
        with contextlib.suppress(ValueError, AttributeError):
            return str(response.json().get("state") or "")
        return ""

    @staticmethod
    def _outcome(app: dict[str, Any]) -> Outcome:
        final = str(app.get("finalStatus") or "").upper()
        state = str(app.get("state") or "").upper()
        if final == "SUCCEEDED":
            code = 0
        elif final == "KILLED" or state == "KILLED":
            code = KILLED_EXIT
        else:
            code = 1
        try:
            vcore_seconds = float(app.get("vcoreSeconds") or 0)
        except (TypeError, ValueError):
            vcore_seconds = 0.0
        return Outcome(exit_code=code, cpu_seconds=max(vcore_seconds, 0.0))

    # -- JobRunner --------------------------------------------------------------------------

    def _run(self, handle: RunHandle) -> _Run:
        with self._lock:
            run = self._runs.get(handle.run_id)
        if run is None:
            raise KeyError(f"no run {handle.run_id} in this process")
        return run

    def _end(self, run: _Run, outcome: Outcome) -> Outcome:
        """Record the outcome once spark-submit has written its last report (it ends a
        report interval after the application; it is stopped if it lingers)."""
        try:
            run.process.wait(timeout=max(self.poll_seconds * 3, 5))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(run.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                run.process.wait(timeout=5)
        run.outcome = outcome
        run.done.set()
        return outcome

    def poll(self, handle: RunHandle) -> Outcome | None:
        run = self._run(handle)
        if run.done.is_set():
            return run.outcome
        exit_code = run.process.poll()
        app_id = self.application_id(handle)
        if app_id is None:
            if exit_code is None:
                return None  # still submitting
            # spark-submit ended without submitting anything: its log says why
            return self._end(run, Outcome(exit_code=exit_code or 1, cpu_seconds=0.0))
        app = self.application(app_id, run.identity)
        if app is None:
            if exit_code is None:
                return None  # not yet visible at this ResourceManager
            return self._end(run, Outcome(exit_code=exit_code or 1, cpu_seconds=0.0))
        if str(app.get("state") or "").upper() in FINAL_STATES:
            return self._end(run, self._outcome(app))
        return None

    def wait(self, handle: RunHandle) -> Outcome:
        run = self._run(handle)
        while True:
            try:
                outcome = self.poll(handle)
            except BackendUnavailable as exc:  # the RM is away for a while: keep waiting
                log.warning("run %s: %s", handle.run_id, exc)
                outcome = None
            if outcome is not None:
                return outcome
            if run.done.wait(self.poll_seconds) and run.outcome is not None:
                return run.outcome

    def kill(self, handle: RunHandle, grace_seconds: float = 3.0) -> None:
        """Kill the application through the ResourceManager; a spark-submit that has not
        submitted yet is stopped instead (and what it submitted meanwhile is killed)."""
        with self._lock:
            run = self._runs.get(handle.run_id)
        if run is not None and run.done.is_set():
            return
        user = run.identity if run is not None else self._identity(handle)
        app_id = self.application_id(handle)
        if app_id is None and run is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(run.process.pid, signal.SIGTERM)
            try:
                run.process.wait(timeout=grace_seconds)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(run.process.pid, signal.SIGKILL)
                run.process.wait()
            app_id = self.application_id(handle)
        if app_id is not None:
            self.kill_application(app_id, user)

    def log_path(self, handle: RunHandle, stream: Stream) -> Path:
        return handle.run_dir / f"{stream.value}.log"

    def leftover(self, run_id: str) -> RunHandle | None:
        run_dir = self.runs_dir / run_id
        return RunHandle(run_id=run_id, pid=0, run_dir=run_dir) if run_dir.is_dir() else None

    def cleanup(self, handle: RunHandle) -> None:
        """Remove the run's directory; an application still running (a leftover of an
        earlier process of the service, whose execution is failed) is killed first."""
        with self._lock:
            run = self._runs.get(handle.run_id)
        if run is None or not run.done.is_set():
            try:
                self.kill(handle)
            except (BackendUnavailable, OSError, httpx.HTTPError) as exc:
                log.warning("could not kill the application of run %s: %s", handle.run_id, exc)
        if run is not None and run.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(run.process.pid, signal.SIGKILL)
            run.process.wait()
        with self._lock:
            self._runs.pop(handle.run_id, None)
        shutil.rmtree(handle.run_dir, ignore_errors=True)


def parse_rm_addresses(addresses: list[str]) -> list[str]:
    """host:port entries (also comma-separated in one entry), in order."""
    found: list[str] = []
    for entry in addresses:
        for item in (part.strip() for part in entry.split(",")):
            if not item:
                continue
            host, _, port = item.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"'{item}' is not host:port")
            found.append(item)
    return found
