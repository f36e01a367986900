"""Long-running servers in the project's namespace: a member's notebook server (token
Secret, NetworkPolicy, Pod, Service) and a serving (KServe `InferenceService`), created,
watched and deleted through the same API server connection as the Kubernetes job runner.

The objects are rendered by the use cases (`notebooks/cluster.py`, `servings/cluster.py`);
this module only talks to the cluster, so it stays below them (backends import no use case).
Before anything is sent, every object is validated (core kinds with `kubernetes-validate`,
strict, the official schemas; the InferenceService with the KServe CRD's JSON Schema the
repository carries, `stacks/kubernetes/hops_k8s/schemas/inferenceservice-v1beta1.json`) and
what the pods will ask for is checked against the namespace's ResourceQuota with the job
runner's own check (`KubernetesRunner.check_quota`). A creation that fails part-way deletes
what it had created, so no half server is left.

Written against the Kubernetes API reference (v1.30) and KServe's v1beta1 API; no cluster
runs here, so it is tested against `tests/support/kubernetes_fake.py` only
(tests/backends/test_kubernetes_servers.py). The notebooks service runs its servers with
these calls when the job runner is `kubernetes` (`notebooks/in_cluster.py`, docs/notebooks.md;
tests/api/test_jupyter_cluster.py), the servings service too (`servings/service.py`,
docs/jobs-cluster.md; tests/api/test_servings_cluster.py).
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jsonschema

from hops_platform.quantity import parse_quantity
from hopsworks_api.backends.errors import BackendUnavailable
from hopsworks_api.backends.kubernetes.base import (
    GPU_RESOURCE,
    LABEL_COMPONENT,
    LABEL_USER,
    MANAGED_BY,
    QUOTA_NAME,
    KubeQuota,
    validate_manifest,
)
from hopsworks_api.backends.runner.kubernetes import KubernetesRunner
from hopsworks_api.errors import BadRequest

Obj = dict[str, Any]
GroupKind = tuple[str, str]

INFERENCE_SERVICE: GroupKind = ("serving.kserve.io/v1beta1", "InferenceService")
COLLECTIONS: Mapping[GroupKind, str] = {
    ("v1", "Secret"): "/api/v1/namespaces/{ns}/secrets",
    ("v1", "Pod"): "/api/v1/namespaces/{ns}/pods",
    ("v1", "Service"): "/api/v1/namespaces/{ns}/services",
    ("networking.k8s.io/v1", "NetworkPolicy"): (
        "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies"
    ),
    INFERENCE_SERVICE: "/apis/serving.kserve.io/v1beta1/namespaces/{ns}/inferenceservices",
    ("v1", "ResourceQuota"): "/api/v1/namespaces/{ns}/resourcequotas",
}
CUSTOM_KINDS = {INFERENCE_SERVICE}
# what a notebook server is made of, in deletion order (the pod first)
NOTEBOOK_KINDS: Sequence[GroupKind] = (
    ("v1", "Pod"),
    ("v1", "Service"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("v1", "Secret"),
)
NOTEBOOK_COMPONENT = "notebook"
SERVING_COMPONENT = "serving"
# KServe's words for a model that will not load (status.modelStatus)
FAILED_TRANSITIONS = ("BlockedByFailedLoad", "InvalidSpec")
FAILED_MODEL_STATE = "FailedToLoad"


def collection(group_kind: GroupKind, namespace: str) -> str:
    return COLLECTIONS[group_kind].format(ns=quote(namespace, safe=""))


def item(group_kind: GroupKind, namespace: str, name: str) -> str:
    return f"{collection(group_kind, namespace)}/{quote(name, safe='')}"


def _group_kind(obj: Obj) -> GroupKind:
    return (str(obj.get("apiVersion")), str(obj.get("kind")))


@functools.cache
def _crd_validator(path: Path) -> jsonschema.protocols.Validator:
    schema = json.loads(path.read_text())
    return jsonschema.validators.validator_for(schema)(schema)


# -- what pods ask for --------------------------------------------------------------------


def _amounts(resources: Obj) -> dict[str, float]:
    """(cpu cores, memory bytes, gpus) of one container; requests, else its limits (the
    API server defaults requests to limits)."""
    asked = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
    limits = resources.get("limits") or {}
    return {
        "cpu": float(parse_quantity(str(asked.get("cpu", "0")))),
        "memory": float(parse_quantity(str(asked.get("memory", "0")))),
        "gpus": float(parse_quantity(str(limits.get(GPU_RESOURCE, "0")))),
    }


def _add(total: dict[str, float], more: Mapping[str, float], times: int = 1) -> None:
    for key, value in more.items():
        total[key] = total.get(key, 0.0) + value * times


def requested_by(obj: Obj) -> dict[str, float]:
    """What the pods of `obj` will ask for in all (read from the object itself, so the
    quota check and the object cannot disagree): a Pod's containers, or every replica of
    an InferenceService's predictor."""
    total = {"cpu": 0.0, "memory": 0.0, "gpus": 0.0}
    group_kind = _group_kind(obj)
    spec = obj.get("spec") or {}
    if group_kind == ("v1", "Pod"):
        for container in spec.get("containers") or []:
            _add(total, _amounts(container.get("resources") or {}))
    elif group_kind == INFERENCE_SERVICE:
        predictor = spec.get("predictor") or {}
        replicas = int(predictor.get("minReplicas") or 1)
        containers = list(predictor.get("containers") or [])
        if predictor.get("model"):
            containers.append(predictor["model"])
        for container in containers:
            _add(total, _amounts(container.get("resources") or {}), replicas)
    return total


# -- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NotebookStatus:
    phase: str
    """The Pod's `status.phase` (Pending, Running, Succeeded, Failed, Unknown)."""
    ready: bool
    """The Pod's `Ready` condition: Jupyter answers its readiness probe."""
    message: str = ""


@dataclass(frozen=True)
class ServingStatus:
    ready: bool
    url: str | None
    """Where KServe serves the v1 protocol (`/v1/models/<name>:predict`): the cluster-local
    `status.address.url` the control service reaches inside the cluster, else `status.url`
    (which may be an external host behind an ingress)."""
    message: str = ""
    failed: bool = False
    """KServe gave up: the model failed to load or the spec is invalid
    (`status.modelStatus`); `message` says why."""


# -- the client ---------------------------------------------------------------------------


class KubernetesServers:
    """Notebook servers and servings in a cluster, on the job runner's API connection.

    runner       the Kubernetes job runner (its client, its quota check, its kube version).
    crd_schemas  (apiVersion, kind) -> the JSON Schema file of a custom resource; a custom
                 kind without one is refused, never sent unvalidated.
    """

    def __init__(
        self,
        runner: KubernetesRunner,
        *,
        crd_schemas: Mapping[GroupKind, Path],
        poll_seconds: float = 2.0,
        predict_timeout: float = 30.0,
        verify: bool = True,
    ) -> None:
        self.runner = runner
        self.crd_schemas = dict(crd_schemas)
        self.poll_seconds = poll_seconds
        self.predict_timeout = predict_timeout
        self.verify = verify

    # -- generic ----------------------------------------------------------------------------

    def validate(self, obj: Obj) -> None:
        """400 `invalid_kubernetes_object` for an object the API server would refuse."""
        group_kind = _group_kind(obj)
        if group_kind not in COLLECTIONS:
            raise BadRequest(f"{group_kind[1]} is not a kind servers are made of")
        if group_kind in CUSTOM_KINDS and group_kind not in self.crd_schemas:
            raise BadRequest(
                f"no CRD schema is configured for {group_kind[1]}: it is not sent unvalidated",
                code="invalid_kubernetes_object",
            )
        if group_kind not in CUSTOM_KINDS:
            validate_manifest(obj, self.runner.kube_version)
            return
        validator = _crd_validator(self.crd_schemas[group_kind])
        error = jsonschema.exceptions.best_match(validator.iter_errors(obj))
        if error is not None:
            where = ".".join(str(p) for p in error.absolute_path) or "(object)"
            raise BadRequest(
                f"{group_kind[1]} '{(obj.get('metadata') or {}).get('name')}' is not valid for "
                f"the {group_kind[0]} CRD: {where}: {error.message}",
                code="invalid_kubernetes_object",
            )

    def create(self, objects: Sequence[Obj], what: str) -> None:
        """Validate all, check the quota once for all, then create them in order; on a
        failure delete those already created (in reverse) and raise."""
        for obj in objects:
            self.validate(obj)
        namespaces = {obj["metadata"]["namespace"] for obj in objects}
        if len(namespaces) != 1:
            raise BadRequest("a server's objects live in one namespace")
        (namespace,) = namespaces
        wanted = {"cpu": 0.0, "memory": 0.0, "gpus": 0.0}
        for obj in objects:
            _add(wanted, requested_by(obj))
        self.runner.check_quota(namespace, wanted, what)
        created: list[Obj] = []
        try:
            for obj in objects:
                self.runner._create(collection(_group_kind(obj), namespace), obj)
                created.append(obj)
        except Exception:
            for obj in reversed(created):
                with contextlib.suppress(Exception):
                    self.delete(_group_kind(obj), namespace, obj["metadata"]["name"])
            raise

    def get(self, group_kind: GroupKind, namespace: str, name: str) -> Obj | None:
        return self.runner._get(item(group_kind, namespace, name), f"{group_kind[1]} {name}")

    def delete(self, group_kind: GroupKind, namespace: str, name: str) -> None:
        """Foreground (dependents first), like the runner's; an absent object is fine."""
        self.runner._delete(item(group_kind, namespace, name), f"{group_kind[1]} {name}")

    def namespace_quota(self, namespace: str) -> KubeQuota | None:
        """The namespace's `hops-project-quota` as the cluster holds it (None: none)."""
        quota = self.get(("v1", "ResourceQuota"), namespace, QUOTA_NAME)
        if quota is None:
            return None
        return KubeQuota.from_hard((quota.get("spec") or {}).get("hard") or {})

    def _list(self, group_kind: GroupKind, namespace: str, selector: str) -> list[Obj]:
        response = self.runner._call(
            "GET", collection(group_kind, namespace), params={"labelSelector": selector}
        )
        if response.status_code == 404:
            return []
        if response.status_code != 200:
            raise self.runner._refused(response, f"listing {group_kind[1]}s")
        return list(response.json().get("items") or [])

    # -- notebook servers -------------------------------------------------------------------

    def start_notebook(self, objects: Sequence[Obj]) -> str:
        """Create a server's objects (`notebooks.cluster.server_objects`); the URL the
        control service's proxy reaches Jupyter at: the Service's cluster DNS name."""
        services = [obj for obj in objects if _group_kind(obj) == ("v1", "Service")]
        if len(services) != 1:
            raise BadRequest("a notebook server is reached through exactly one Service")
        self.create(objects, "the notebook server")
        return self.service_url(services[0])

    @staticmethod
    def service_url(service: Obj) -> str:
        meta = service["metadata"]
        port = service["spec"]["ports"][0]["port"]
        return f"http://{meta['name']}.{meta['namespace']}.svc:{port}"

    def notebook_status(self, namespace: str, name: str) -> NotebookStatus | None:
        """None when the server's Pod is gone."""
        pod = self.get(("v1", "Pod"), namespace, name)
        if pod is None:
            return None
        status = pod.get("status") or {}
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        return NotebookStatus(
            phase=str(status.get("phase") or "Pending"),
            ready=ready,
            message=str(status.get("message") or ""),
        )

    def notebook_log(self, namespace: str, name: str, tail_lines: int = 50) -> str:
        """The tail of Jupyter's log, for a server that failed to start ('' if none yet)."""
        response = self.runner._call(
            "GET",
            f"{item(('v1', 'Pod'), namespace, name)}/log",
            params={"tailLines": str(tail_lines)},
        )
        return response.text if response.status_code == 200 else ""

    def stop_notebook(self, namespace: str, username: str) -> None:
        """Delete everything of the member's server (found by its labels, so a half-created
        server goes too)."""
        self._delete_labelled(
            namespace, f"{LABEL_COMPONENT}={NOTEBOOK_COMPONENT},{LABEL_USER}={username}"
        )

    def _delete_labelled(self, namespace: str, selector: str) -> list[str]:
        deleted: list[str] = []
        for group_kind in NOTEBOOK_KINDS:
            for obj in self._list(
                group_kind, namespace, f"{MANAGED_BY[0]}={MANAGED_BY[1]},{selector}"
            ):
                name = obj["metadata"]["name"]
                self.delete(group_kind, namespace, name)
                deleted.append(f"{group_kind[1]} {namespace}/{name}")
        return deleted

    def delete_orphan_notebooks(
        self, namespaces: Iterable[str], keep: Iterable[tuple[str, str]]
    ) -> list[str]:
        """After a restart: delete every notebook object in `namespaces` whose
        (namespace, user) is not in `keep` (the servers the database says run)."""
        kept = set(keep)
        deleted: list[str] = []
        for namespace in namespaces:
            users: set[str] = set()
            for group_kind in NOTEBOOK_KINDS:
                for obj in self._list(
                    group_kind,
                    namespace,
                    f"{MANAGED_BY[0]}={MANAGED_BY[1]},{LABEL_COMPONENT}={NOTEBOOK_COMPONENT}",
                ):
                    user = (obj["metadata"].get("labels") or {}).get(LABEL_USER, "")
                    if (namespace, user) not in kept:
                        users.add(user)
            for user in sorted(users):
                deleted += self._delete_labelled(
                    namespace, f"{LABEL_COMPONENT}={NOTEBOOK_COMPONENT},{LABEL_USER}={user}"
                )
        return deleted

    # -- servings ---------------------------------------------------------------------------

    def start_serving(self, inference_service: Obj) -> None:
        """Create the InferenceService (`servings.cluster.inference_service`)."""
        name = inference_service["metadata"]["name"]
        self.create([inference_service], f"serving '{name}'")

    def serving_status(self, namespace: str, name: str) -> ServingStatus | None:
        obj = self.get(INFERENCE_SERVICE, namespace, name)
        if obj is None:
            return None
        status = obj.get("status") or {}
        ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
        model = status.get("modelStatus") or {}
        states = model.get("states") or {}
        failure = model.get("lastFailureInfo") or {}
        failed = model.get("transitionStatus") in FAILED_TRANSITIONS or FAILED_MODEL_STATE in (
            states.get("activeModelState"),
            states.get("targetModelState"),
        )
        reason = ready.get("message") or ready.get("reason") or ""
        if failed:
            reason = failure.get("message") or failure.get("reason") or reason
        return ServingStatus(
            ready=ready.get("status") == "True",
            url=(status.get("address") or {}).get("url") or status.get("url") or None,
            message=str(reason),
            failed=failed,
        )

    def serving_names(self, namespace: str) -> list[str]:
        """The InferenceServices the platform made in `namespace` (for orphan removal)."""
        selector = f"{MANAGED_BY[0]}={MANAGED_BY[1]},{LABEL_COMPONENT}={SERVING_COMPONENT}"
        return [
            obj["metadata"]["name"] for obj in self._list(INFERENCE_SERVICE, namespace, selector)
        ]

    def wait_serving(self, namespace: str, name: str, timeout_s: float) -> str:
        """Poll until the InferenceService is Ready with a `status.url` (503 when it is not
        within `timeout_s`, with KServe's last word, or when it was deleted)."""
        deadline = time.monotonic() + timeout_s
        waiter = threading.Event()
        while True:
            status = self.serving_status(namespace, name)
            if status is None:
                raise BackendUnavailable(
                    "kubernetes", f"InferenceService {namespace}/{name} was deleted"
                )
            if status.ready and status.url:
                return status.url
            if time.monotonic() >= deadline:
                raise BackendUnavailable(
                    "kubernetes",
                    f"InferenceService {namespace}/{name} is not ready after {timeout_s:g} s"
                    + (f": {status.message}" if status.message else ""),
                )
            waiter.wait(min(self.poll_seconds, max(deadline - time.monotonic(), 0.0)))

    def predict(self, url: str, model: str, body: bytes) -> httpx.Response:
        """POST the request to KServe's v1 protocol (`/v1/models/<name>:predict`) at the
        InferenceService's `status.url`; the answer as it is, a 4xx included, for the
        caller to pass on in the platform's error shape."""
        with httpx.Client(timeout=self.predict_timeout, verify=self.verify) as client:
            try:
                return client.post(
                    f"{url.rstrip('/')}/v1/models/{quote(model, safe='')}:predict",
                    content=body,
                    headers={"Content-Type": "application/json"},
                )
            except httpx.HTTPError as exc:
                raise BackendUnavailable("kubernetes", f"the model server at {url}: {exc}") from exc

    def stop_serving(self, namespace: str, name: str) -> None:
        self.delete(INFERENCE_SERVICE, namespace, name)
