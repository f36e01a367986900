"""Runs jobs on Kubernetes, in the project's namespace: a spark-operator `SparkApplication`
(`sparkoperator.k8s.io/v1beta2`) for pyspark and spark jobs, a `batch/v1` `Job` for python
jobs.

Written against the Kubernetes API reference (v1.30) and the spark-operator's CRD; no API
server runs here, so it is tested against `tests/support/kubernetes_fake.py`, and every
object is validated before it is sent: core objects with `kubernetes-validate` (strict,
the official schemas), the SparkApplication with `jsonschema` against the CRD's
`openAPIV3Schema` kept in `schemas/sparkapplication-v1beta2.json` (source and version in
`schemas/README.md`). The HTTP style is the cluster backend's (httpx, `backends.http`; the
repository uses no Kubernetes client library).

A run (names from the execution id, labels naming project, job and execution):

- Secret `hops-run-<id>` holds the run's credentials (and, for a python job, its script,
  read through the storage backend): mounted read-only (0400) at `/credentials` (the
  script at `/app`). A Secret is at most 1 MiB, so a bigger script is refused (400).
- the workload: requests = limits from the job's resources (the namespace's ResourceQuota
  sets both for cpu and memory, so a pod without limits would be refused), checked first
  against the quota's `hard` (never fits: 400 `exceeds_namespace_quota`) and `hard - used`
  (fits later: 409 `namespace_quota_full`). Spark pods also ask for their memory overhead,
  set explicitly so the check is exact.
- state: the Job's `Complete`/`Failed` conditions, or the SparkApplication's
  `status.applicationState.state`; the log of the driver / job pod
  (`GET .../pods/{pod}/log`: stdout and stderr interleaved, as the kubelet keeps them) is
  copied into the run's `stdout.log` at every poll, so the service's log endpoint works
  while the run lasts; `stderr.log` gets the runner's own lines (what was created, the
  states seen, why it ended).
- stop: DELETE of the workload with `propagationPolicy: Foreground` (its pods go first);
  cleanup deletes the workload and the Secret (a leftover of an earlier process of the
  service included: `<run dir>/object.json` says what it created).
- usage: what was allocated, not measured (no metrics API is assumed): requested cores x
  the time from creation to the end seen here.

Inside the pods the datasets are at `HOPS_DATASETS_DIR` = `<fs.defaultFS>/Projects/<project>`
(a URL, read with an HDFS client), the credentials at `HOPS_CREDENTIALS_DIR=/credentials`.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import threading
import time
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jsonschema

from hops_platform.quantity import parse_quantity
from hopsworks_api.backends.errors import BackendUnavailable
from hopsworks_api.backends.http import make_client, send, snippet
from hopsworks_api.backends.kubernetes.base import (
    DEFAULT_KUBE_VERSION,
    GPU_RESOURCE,
    LABEL_COMPONENT,
    LABEL_PROJECT,
    MANAGED_BY,
    QUOTA_NAME,
    namespace_for,
    validate_manifest,
)
from hopsworks_api.backends.kubernetes.cluster import BearerToken
from hopsworks_api.backends.runner.base import JobApp, Outcome, RunHandle, RunSpec, Stream
from hopsworks_api.backends.runner.yarn import cluster_env
from hopsworks_api.errors import BadRequest, Conflict

log = logging.getLogger(__name__)

SYSTEM = "kubernetes"
SPARK_GROUP_VERSION = "sparkoperator.k8s.io/v1beta2"
SPARK_PATH = "/apis/sparkoperator.k8s.io/v1beta2/namespaces/{ns}/sparkapplications"
JOB_PATH = "/apis/batch/v1/namespaces/{ns}/jobs"
SECRET_PATH = "/api/v1/namespaces/{ns}/secrets"  # noqa: S105 - a URL path
POD_PATH = "/api/v1/namespaces/{ns}/pods"
LABEL_JOB = "hops.io/job"
LABEL_EXECUTION = "hops.io/execution"
ANNOTATION_JOB = "hops.io/job"
ANNOTATION_IDENTITY = "hops.io/project-user"
CREDENTIALS_DIR = "/credentials"
APP_DIR = "/app"
SCRATCH_DIR = "/scratch"
SECRET_LIMIT_BYTES = 1024 * 1024  # etcd's object limit for a Secret (API reference)
SPARK_FINAL = {"COMPLETED": 0, "FAILED": 1, "SUBMISSION_FAILED": 1}
KILLED_EXIT = -signal.SIGTERM
LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
NOBODY = 65534

Obj = dict[str, Any]


# -- the SparkApplication schema ------------------------------------------------------


def _structural(node: Any) -> Any:
    """The CRD's OpenAPI v3 schema as JSON Schema: `nullable` allows null, and an object
    with declared properties refuses others (what the API server does with strict field
    validation; by default it would silently drop them) unless the schema keeps unknown
    fields (`x-kubernetes-preserve-unknown-fields`)."""
    if isinstance(node, list):
        return [_structural(item) for item in node]
    if not isinstance(node, dict):
        return node
    result = {key: _structural(value) for key, value in node.items()}
    if result.pop("nullable", False) and "type" in result:
        result["type"] = [result["type"], "null"]
    if (
        "properties" in result
        and "additionalProperties" not in result
        and not result.get("x-kubernetes-preserve-unknown-fields")
    ):
        result["additionalProperties"] = False
    return result


@functools.cache
def spark_application_schema() -> Obj:
    data = resources.files(__package__).joinpath("schemas/sparkapplication-v1beta2.json")
    return json.loads(data.read_text())


@functools.cache
def crd_json_schema() -> Obj:
    """The SparkApplication CRD's schema as JSON Schema (see `_structural`)."""
    return _structural(spark_application_schema()["openAPIV3Schema"])


@functools.cache
def _spark_validator() -> jsonschema.protocols.Validator:
    return jsonschema.Draft7Validator(crd_json_schema())


def validate_spark_application(obj: Obj) -> None:
    """Refuse a SparkApplication the CRD's schema refuses (400 `invalid_kubernetes_object`)."""
    error = jsonschema.exceptions.best_match(_spark_validator().iter_errors(obj))
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path) or "(object)"
        raise BadRequest(
            f"SparkApplication '{(obj.get('metadata') or {}).get('name')}' is not valid for "
            f"the {SPARK_GROUP_VERSION} CRD: {where}: {error.message}",
            code="invalid_kubernetes_object",
        )


# -- names and manifests ----------------------------------------------------------------


def object_name(run_id: str) -> str:
    return f"hops-run-{run_id}"


def label_value(text: str) -> str:
    """`text` if it is a valid label value, else a shortened form with a hash (the exact
    value is kept in an annotation)."""
    if len(text) <= 63 and LABEL_VALUE_RE.fullmatch(text):
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "-", text)[:50].strip("-_.")
    return f"{cleaned}-{digest}" if cleaned else digest


def labels(spec: RunSpec, app: JobApp, component: str) -> dict[str, str]:
    return {
        MANAGED_BY[0]: MANAGED_BY[1],
        LABEL_PROJECT: namespace_for(spec.project),
        LABEL_JOB: label_value(app.job),
        LABEL_EXECUTION: spec.run_id,
        LABEL_COMPONENT: component,
    }


def spark_overhead_mb(memory_mb: int) -> int:
    """Spark's default overhead on Kubernetes (`spark.kubernetes.memoryOverheadFactor`
    0.1, at least 384 MiB), set explicitly so the quota check counts what pods ask for."""
    return max(384, memory_mb // 10)


def requested(app: JobApp) -> dict[str, float]:
    """What all pods of the run ask for (requests = limits): cpu cores, memory bytes, GPUs."""
    mib = 1024 * 1024
    if app.type == "python":
        return {"cpu": app.cores, "memory": app.memory_mb * mib, "gpus": app.gpus}
    driver = app.memory_mb + spark_overhead_mb(app.memory_mb)
    executor = app.executor_memory_mb + spark_overhead_mb(app.executor_memory_mb)
    return {
        "cpu": app.cores + app.executors * app.executor_cores,
        "memory": (driver + app.executors * executor) * mib,
        "gpus": app.gpus,
    }


def _env(spec: RunSpec, datasets_url: str) -> list[Obj]:
    values = {
        **cluster_env(spec.env),
        "HOPS_PROJECT": spec.project,
        "HOPS_USER": spec.identity,
        "HOPS_DATASETS_DIR": datasets_url,
        "HOPS_CREDENTIALS_DIR": CREDENTIALS_DIR,
        "PYTHONUNBUFFERED": "1",
    }
    return [{"name": key, "value": value} for key, value in sorted(values.items())]


def secret_manifest(spec: RunSpec, app: JobApp, script: bytes | None) -> Obj:
    data = {name: base64.b64encode(content).decode() for name, content in spec.credentials.items()}
    if script is not None:
        data["app.py"] = base64.b64encode(script).decode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "immutable": True,
        "metadata": {
            "name": object_name(spec.run_id),
            "namespace": namespace_for(spec.project),
            "labels": labels(spec, app, "run-credentials"),
            "annotations": {ANNOTATION_JOB: app.job, ANNOTATION_IDENTITY: spec.identity},
        },
        "data": data,
    }


def _credential_volume(spec: RunSpec) -> Obj:
    return {
        "name": "credentials",
        "secret": {
            "secretName": object_name(spec.run_id),
            "defaultMode": 0o400,
            "items": [{"key": name, "path": name} for name in sorted(spec.credentials)],
        },
    }


def _resources(cores: int, memory_mb: int, gpus: int) -> Obj:
    amounts = {"cpu": str(cores), "memory": f"{memory_mb}Mi"}
    if gpus:
        amounts[GPU_RESOURCE] = str(gpus)
    return {"requests": dict(amounts), "limits": dict(amounts)}


def job_manifest(spec: RunSpec, app: JobApp, image: str, datasets_url: str) -> Obj:
    """batch/v1 Job running the script once (no retries: a failed run is FAILED), as an
    unprivileged user with a read-only root file system."""
    script = app.app_path.rsplit("/", 1)[-1]
    pod_labels = labels(spec, app, "job-pod")
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": object_name(spec.run_id),
            "namespace": namespace_for(spec.project),
            "labels": labels(spec, app, "job"),
            "annotations": {ANNOTATION_JOB: app.job, ANNOTATION_IDENTITY: spec.identity},
        },
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": NOBODY,
                        "runAsGroup": NOBODY,
                    },
                    "containers": [
                        {
                            "name": "job",
                            "image": image,
                            "command": ["python", f"{APP_DIR}/{script}", *app.args],
                            "workingDir": SCRATCH_DIR,
                            "env": [
                                *_env(spec, datasets_url),
                                {"name": "HOME", "value": SCRATCH_DIR},
                            ],
                            "resources": _resources(app.cores, app.memory_mb, app.gpus),
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "volumeMounts": [
                                {
                                    "name": "credentials",
                                    "mountPath": CREDENTIALS_DIR,
                                    "readOnly": True,
                                },
                                {"name": "app", "mountPath": APP_DIR, "readOnly": True},
                                {"name": "scratch", "mountPath": SCRATCH_DIR},
                                {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - the pod's own
                            ],
                        }
                    ],
                    "volumes": [
                        _credential_volume(spec),
                        {
                            "name": "app",
                            "secret": {
                                "secretName": object_name(spec.run_id),
                                "defaultMode": 0o444,
                                "items": [{"key": "app.py", "path": script}],
                            },
                        },
                        {"name": "scratch", "emptyDir": {}},
                        {"name": "tmp", "emptyDir": {}},
                    ],
                },
            },
        },
    }


def spark_application_manifest(
    spec: RunSpec,
    app: JobApp,
    *,
    image: str,
    spark_version: str,
    service_account: str,
    default_fs: str,
    datasets_url: str,
) -> Obj:
    env = _env(spec, datasets_url)
    mounts = [{"name": "credentials", "mountPath": CREDENTIALS_DIR, "readOnly": True}]
    driver: Obj = {
        "cores": app.cores,
        "coreLimit": str(app.cores),
        "memory": f"{app.memory_mb}m",
        "memoryOverhead": f"{spark_overhead_mb(app.memory_mb)}m",
        "serviceAccount": service_account,
        "labels": labels(spec, app, "driver"),
        "env": env,
        "volumeMounts": mounts,
    }
    if app.gpus:
        driver["gpu"] = {"name": GPU_RESOURCE, "quantity": app.gpus}
    manifest: Obj = {
        "apiVersion": SPARK_GROUP_VERSION,
        "kind": "SparkApplication",
        "metadata": {
            "name": object_name(spec.run_id),
            "namespace": namespace_for(spec.project),
            "labels": labels(spec, app, "spark-application"),
            "annotations": {ANNOTATION_JOB: app.job, ANNOTATION_IDENTITY: spec.identity},
        },
        "spec": {
            "type": "Python" if app.type == "pyspark" else "Scala",
            "mode": "cluster",
            "image": image,
            "imagePullPolicy": "IfNotPresent",
            "sparkVersion": spark_version,
            "mainApplicationFile": f"{datasets_url}/{app.app_path}",
            "arguments": list(app.args),
            "restartPolicy": {"type": "Never"},
            "hadoopConf": {"fs.defaultFS": default_fs},
            "volumes": [_credential_volume(spec)],
            "driver": driver,
            "executor": {
                "instances": app.executors,
                "cores": app.executor_cores,
                "coreLimit": str(app.executor_cores),
                "memory": f"{app.executor_memory_mb}m",
                "memoryOverhead": f"{spark_overhead_mb(app.executor_memory_mb)}m",
                "labels": labels(spec, app, "executor"),
                "env": env,
                "volumeMounts": mounts,
            },
        },
    }
    if app.type == "spark":
        manifest["spec"]["mainClass"] = app.main_class
    return manifest


def delete_options() -> Obj:
    return {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"}


# -- the runner -----------------------------------------------------------------------


class _Run:
    def __init__(self, record: Obj) -> None:
        self.record = record
        self.started = time.monotonic()
        self.cores = float(record["cores"])
        self.outcome: Outcome | None = None
        self.done = threading.Event()
        self.stopped = False
        self.seen_state = ""


class KubernetesRunner:
    """`JobRunner` for Kubernetes.

    runs_dir      where each run's directory (logs, the record of what was created) is made.
    api_url, token / token_file, ca_file, verify: the API server (as ClusterKubernetes).
    default_fs    fs.defaultFS; app files and datasets are `<it>/Projects/<project>/...`.
    read_app      reads a python job's script: (project, dataset, path parts) -> bytes.
    """

    credentials_dir = CREDENTIALS_DIR

    def __init__(
        self,
        runs_dir: Path,
        *,
        api_url: str,
        default_fs: str,
        read_app: Callable[[str, str, tuple[str, ...]], bytes],
        token: str | None = None,
        token_file: str | None = None,
        ca_file: str | None = None,
        verify: bool = True,
        timeout: float = 5.0,
        connect_timeout: float = 3.0,
        kube_version: str = DEFAULT_KUBE_VERSION,
        spark_image: str = "apache/spark:4.0.0-python3",
        spark_version: str = "4.0.0",
        spark_service_account: str = "spark",
        python_image: str = "python:3.11-slim",
        poll_seconds: float = 2.0,
    ) -> None:
        self.runs_dir = runs_dir
        self.default_fs = default_fs.rstrip("/")
        # the projects' root; a run's own HOPS_DATASETS_DIR is `<it>/<project>`
        self.datasets_dir = f"{self.default_fs}/Projects"
        self.read_app = read_app
        self.kube_version = kube_version
        self.spark_image = spark_image
        self.spark_version = spark_version
        self.spark_service_account = spark_service_account
        self.python_image = python_image
        self.poll_seconds = poll_seconds
        self._client = make_client(
            api_url,
            timeout=timeout,
            connect_timeout=connect_timeout,
            verify=verify,
            ca_file=ca_file,
            auth=BearerToken(token, token_file) if (token or token_file) else None,
            headers={"Accept": "application/json", "User-Agent": "hopsworks-api"},
        )
        self._runs: dict[str, _Run] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self._client.close()

    def check(self) -> None:
        return None  # the API server's answers to the creation say more

    # -- wire -------------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return send(self._client, SYSTEM, method, path, **kwargs)

    def _refused(self, response: httpx.Response, what: str) -> Exception:
        try:
            body = response.json()
            message = str(body.get("message") or "") if isinstance(body, dict) else ""
        except ValueError:
            message = snippet(response)
        text = f"{what}: {message or response.status_code}"
        if response.status_code == 403:
            return BackendUnavailable(SYSTEM, f"{text} (the platform's account lacks a permission)")
        if response.status_code == 404:
            return BackendUnavailable(
                SYSTEM, f"{text} (is the project's namespace there, and the spark-operator CRD?)"
            )
        if response.status_code == 409:
            return Conflict(text, code="kubernetes_conflict")
        return BadRequest(text, code="kubernetes_refused")

    def _get(self, path: str, what: str) -> Obj | None:
        response = self._call("GET", path)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._refused(response, what)
        return response.json()

    def _create(self, collection: str, obj: Obj) -> None:
        response = self._call("POST", collection, json=obj)
        if response.status_code not in (200, 201, 202):
            raise self._refused(response, f"creating {obj['kind']} {obj['metadata']['name']}")

    def _delete(self, path: str, what: str) -> None:
        response = self._call("DELETE", path, json=delete_options())
        if response.status_code not in (200, 202, 404):
            raise self._refused(response, f"deleting {what}")

    # -- the submission -------------------------------------------------------------------

    def _app(self, spec: RunSpec) -> JobApp:
        app = spec.app
        if app is None or app.type not in ("python", "pyspark", "spark"):
            raise BadRequest(
                "only jobs (python, pyspark, spark) run on Kubernetes", code="job_type_unsupported"
            )
        if app.type == "spark" and not app.main_class:
            raise BadRequest("a 'spark' job needs a main_class", code="bad_main_class")
        return app

    def manifests(self, spec: RunSpec, script: bytes | None = None) -> tuple[Obj, Obj]:
        """(the Secret, the workload) of the run, both validated."""
        app = self._app(spec)
        datasets_url = f"{self.default_fs}/Projects/{spec.project}"
        if app.type == "python":
            workload = job_manifest(spec, app, self.python_image, datasets_url)
            validate_manifest(workload, self.kube_version)
        else:
            workload = spark_application_manifest(
                spec,
                app,
                image=self.spark_image,
                spark_version=self.spark_version,
                service_account=self.spark_service_account,
                default_fs=self.default_fs,
                datasets_url=datasets_url,
            )
            validate_spark_application(workload)
        secret = secret_manifest(spec, app, script if app.type == "python" else None)
        validate_manifest(secret, self.kube_version)
        if len(json.dumps(secret["data"])) > SECRET_LIMIT_BYTES - 64 * 1024:
            raise BadRequest(
                f"the script {app.app_path} and the credentials do not fit in one Secret "
                "(1 MiB); keep python job scripts small and read data from the datasets",
                code="app_too_large",
            )
        return secret, workload

    def _check_quota(self, namespace: str, app: JobApp) -> None:
        self.check_quota(namespace, requested(app), "the job")

    def check_quota(self, namespace: str, wanted: Mapping[str, float], what: str) -> None:
        """`wanted` (cpu cores, memory bytes, gpus) against the namespace's quota: 400 when
        it never fits, 409 while running work holds the rest. Notebook servers and
        servings (`kubernetes_servers`) are checked here too."""
        quota = self._get(f"/api/v1/namespaces/{namespace}/resourcequotas/{QUOTA_NAME}", "quota")
        if quota is None:
            return  # no quota in the namespace: the cluster's own limits apply
        hard = (quota.get("spec") or {}).get("hard") or {}
        used = (quota.get("status") or {}).get("used") or {}
        checks = (
            ("cpu", ("limits.cpu", "requests.cpu"), wanted["cpu"]),
            ("memory", ("limits.memory", "requests.memory"), wanted["memory"]),
            ("GPUs", (f"requests.{GPU_RESOURCE}",), wanted["gpus"]),
        )
        for resource, keys, amount in checks:
            for key in keys:
                if key not in hard or not amount:
                    continue
                limit = float(parse_quantity(str(hard[key])))
                in_use = float(parse_quantity(str(used.get(key, "0"))))
                if amount > limit:
                    raise BadRequest(
                        f"{what} asks for {amount:g} {resource} ({key}) in all, more than the "
                        f"project's namespace may use ({hard[key]})",
                        code="exceeds_namespace_quota",
                    )
                if amount > limit - in_use:
                    raise Conflict(
                        f"{what} asks for {amount:g} {resource} ({key}); {used.get(key)} of "
                        f"{hard[key]} are in use in the project's namespace: try again when "
                        "running work has ended",
                        code="namespace_quota_full",
                    )

    def _script(self, spec: RunSpec, app: JobApp) -> bytes | None:
        if app.type != "python":
            return None
        dataset, _, rest = app.app_path.partition("/")
        return self.read_app(spec.project, dataset, tuple(rest.split("/")))

    def start(self, spec: RunSpec) -> RunHandle:
        app = self._app(spec)
        secret, workload = self.manifests(spec, self._script(spec, app))
        namespace = namespace_for(spec.project)
        self._check_quota(namespace, app)
        run_dir = self.runs_dir / spec.run_id
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True, mode=0o700)
        record = {
            "namespace": namespace,
            "name": object_name(spec.run_id),
            "kind": workload["kind"],
            "type": app.type,
            "cores": requested(app)["cpu"],
        }
        (run_dir / "object.json").write_text(json.dumps(record))
        for stream in Stream:
            (run_dir / f"{stream.value}.log").touch()
        run = _Run(record)
        with self._lock:
            self._runs[spec.run_id] = run
        handle = RunHandle(run_id=spec.run_id, pid=0, run_dir=run_dir)
        try:
            self._create(SECRET_PATH.format(ns=namespace), secret)
            self._create(self._collection(record), workload)
        except Exception:
            self._remove(record)
            with self._lock:
                self._runs.pop(spec.run_id, None)
            shutil.rmtree(run_dir, ignore_errors=True)
            raise
        self._note(handle, f"created {workload['kind']} {namespace}/{record['name']}")
        return handle

    # -- state and logs ---------------------------------------------------------------------

    @staticmethod
    def _collection(record: Obj) -> str:
        template = JOB_PATH if record["kind"] == "Job" else SPARK_PATH
        return template.format(ns=record["namespace"])

    def _item(self, record: Obj) -> str:
        return f"{self._collection(record)}/{quote(record['name'], safe='')}"

    def _note(self, handle: RunHandle, line: str) -> None:
        with contextlib.suppress(OSError), open(self.log_path(handle, Stream.STDERR), "a") as f:
            f.write(f"[kubernetes] {line}\n")

    def _pod(self, record: Obj, run_id: str) -> str | None:
        component = "job-pod" if record["kind"] == "Job" else "driver"
        response = self._call(
            "GET",
            POD_PATH.format(ns=record["namespace"]),
            params={"labelSelector": f"{LABEL_EXECUTION}={run_id},{LABEL_COMPONENT}={component}"},
        )
        if response.status_code != 200:
            raise self._refused(response, "listing the run's pods")
        items = response.json().get("items") or []
        names = sorted(str((item.get("metadata") or {}).get("name")) for item in items)
        return names[-1] if names else None

    def _copy_log(self, handle: RunHandle, record: Obj) -> None:
        """The driver's / job pod's log so far into `stdout.log` (replaced whole, atomically,
        so a reader never sees half of it)."""
        pod = self._pod(record, handle.run_id)
        if pod is None:
            return
        path = f"{POD_PATH.format(ns=record['namespace'])}/{quote(pod, safe='')}/log"
        response = self._call("GET", path)
        if response.status_code == 400:
            return  # the container has not started yet ("ContainerCreating")
        if response.status_code != 200:
            return
        target = self.log_path(handle, Stream.STDOUT)
        partial = target.with_suffix(".part")
        partial.write_bytes(response.content)
        os.replace(partial, target)

    @staticmethod
    def _state(record: Obj, obj: Obj) -> tuple[str, int | None]:
        """(the state in the system's own words, the exit code once it ended)."""
        status = obj.get("status") or {}
        if record["kind"] == "Job":
            for condition in status.get("conditions") or []:
                if condition.get("status") != "True":
                    continue
                if condition.get("type") == "Complete":
                    return "Complete", 0
                if condition.get("type") == "Failed":
                    return "Failed", 1
            return ("Running" if status.get("active") else "Pending"), None
        state = str((status.get("applicationState") or {}).get("state") or "")
        return state or "NEW", SPARK_FINAL.get(state)

    def _run(self, handle: RunHandle) -> _Run:
        with self._lock:
            run = self._runs.get(handle.run_id)
        if run is None:
            raise KeyError(f"no run {handle.run_id} in this process")
        return run

    def _end(self, run: _Run, exit_code: int) -> Outcome:
        elapsed = max(time.monotonic() - run.started, 0.0)
        run.outcome = Outcome(exit_code=exit_code, cpu_seconds=run.cores * elapsed)
        run.done.set()
        return run.outcome

    def poll(self, handle: RunHandle) -> Outcome | None:
        run = self._run(handle)
        if run.done.is_set():
            return run.outcome
        record = run.record
        obj = self._get(self._item(record), f"{record['kind']} {record['name']}")
        with contextlib.suppress(BackendUnavailable):
            self._copy_log(handle, record)
        if obj is None:
            if run.stopped:
                self._note(handle, "stopped: deleted")
                return self._end(run, KILLED_EXIT)
            self._note(handle, f"{record['kind']} {record['name']} was deleted by someone else")
            return self._end(run, 1)
        state, exit_code = self._state(record, obj)
        if state != run.seen_state:
            run.seen_state = state
            self._note(handle, f"state {state}")
        if exit_code is None:
            return None
        if run.stopped:
            exit_code = KILLED_EXIT
        return self._end(run, exit_code)

    def wait(self, handle: RunHandle) -> Outcome:
        run = self._run(handle)
        while True:
            try:
                outcome = self.poll(handle)
            except BackendUnavailable as exc:  # the API server is away for a while
                log.warning("run %s: %s", handle.run_id, exc)
                outcome = None
            if outcome is not None:
                return outcome
            if run.done.wait(self.poll_seconds) and run.outcome is not None:
                return run.outcome

    def kill(self, handle: RunHandle, grace_seconds: float = 3.0) -> None:
        """Delete the workload, its pods first (Foreground); they get their own grace period."""
        with self._lock:
            run = self._runs.get(handle.run_id)
        if run is not None:
            if run.done.is_set():
                return
            run.stopped = True
        record = run.record if run is not None else self._record(handle)
        if record is not None:
            self._delete(self._item(record), f"{record['kind']} {record['name']}")

    def log_path(self, handle: RunHandle, stream: Stream) -> Path:
        return handle.run_dir / f"{stream.value}.log"

    @staticmethod
    def _record(handle: RunHandle) -> Obj | None:
        try:
            return json.loads((handle.run_dir / "object.json").read_text())
        except (FileNotFoundError, ValueError):
            return None

    def leftover(self, run_id: str) -> RunHandle | None:
        run_dir = self.runs_dir / run_id
        return RunHandle(run_id=run_id, pid=0, run_dir=run_dir) if run_dir.is_dir() else None

    def _remove(self, record: Mapping[str, Any]) -> None:
        self._delete(self._item(dict(record)), f"{record['kind']} {record['name']}")
        secret = f"{SECRET_PATH.format(ns=record['namespace'])}/{quote(record['name'], safe='')}"
        self._delete(secret, f"Secret {record['name']}")

    def cleanup(self, handle: RunHandle) -> None:
        """Delete the workload (a leftover's too: its execution is failed) and the Secret,
        then the run's directory."""
        with self._lock:
            run = self._runs.pop(handle.run_id, None)
        record = copy.deepcopy(run.record) if run is not None else self._record(handle)
        if record is not None:
            try:
                self._remove(record)
            except (BackendUnavailable, BadRequest, Conflict, httpx.HTTPError) as exc:
                log.warning("could not delete the objects of run %s: %s", handle.run_id, exc)
        shutil.rmtree(handle.run_dir, ignore_errors=True)
