"""A contract fake of the Kubernetes API server for the four resources the platform uses.

Paths, verbs, status codes and error bodies follow the Kubernetes API reference and API
conventions (v1.30): `Status` objects with `reason` and `code` for every failure.

    /api/v1/namespaces[/{name}]                                      Namespace (cluster)
    /api/v1/namespaces/{ns}/resourcequotas[/{name}]                  ResourceQuota
    /api/v1/namespaces/{ns}/secrets[/{name}]                         Secret
    /apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings[/{name}]  RoleBinding

collection: GET (list, `labelSelector` with `k=v` / `k` terms), POST (create: 201, or
409 AlreadyExists); item: GET (404 NotFound), PUT (replace: 404 if absent, 409 Conflict on
a stale `resourceVersion`, 422 on an immutable field: Secret `type`, RoleBinding
`roleRef`), DELETE (200; 404 if absent). Bearer token required (401 Unauthorized).

Every incoming object is validated with `kubernetes-validate` (strict, the official
schemas; the real server's default is to warn on unknown fields, this fake refuses them:
400 BadRequest), then by the server-side rules the schemas cannot express, answered 422
Invalid as the server does: DNS-1123 names, label syntax, quota resource names (extended
resources only as `requests.<name>`), quantities, the keys a `kubernetes.io/tls` Secret
must have, RBAC subject/roleRef groups, namespace of the object vs the URL (400).

Namespace lifecycle: creation adds the `kubernetes.io/metadata.name` label and phase
Active. Deletion removes the namespace and everything in it at once, unless
`hold_termination` is set: then it stays `Terminating` (creating content in it is refused
with 403 Forbidden "... because it is being terminated", as NamespaceLifecycle does)
until `finish_terminations()`.

Workloads (for the job runners; paths as in the API reference):

    /apis/batch/v1/namespaces/{ns}/jobs[/{name}]                     Job
    /apis/sparkoperator.k8s.io/v1beta2/namespaces/{ns}/sparkapplications[/{name}]
                                                 SparkApplication (the spark-operator CRD)
    /api/v1/namespaces/{ns}/pods[/{name}]                            Pod
    /api/v1/namespaces/{ns}/pods/{name}/log                          the container's log

A SparkApplication is validated as an API server with the CRD installed validates it:
against the CRD's `openAPIV3Schema` (the package's copy,
`hopsworks_api/backends/runner/schemas/`), unknown fields refused as with strict field
validation (422 Invalid). DELETE takes `DeleteOptions` (`propagationPolicy`, recorded in
`deletions`); `Foreground` and `Background` delete the object's dependents (objects whose
`ownerReferences` name its uid), `Orphan` leaves them. Nothing runs: pods appear only
through `add_pod`, states change only through `set_status` (no controllers), logs through
`set_log` (`GET .../log` answers 400 "ContainerCreating" for a pod whose log is unset, as
for a container that has not started).

Servers (for `backends/runner/kubernetes_servers.py`):

    /api/v1/namespaces/{ns}/services[/{name}]                        Service
    /apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies[/{name}]  NetworkPolicy
    /apis/serving.kserve.io/v1beta1/namespaces/{ns}/inferenceservices[/{name}]
                                                 InferenceService (KServe's CRD)

A Service's name must be a DNS-1035 label. An InferenceService is validated against the
KServe CRD's JSON Schema the repository carries
(`stacks/kubernetes/hops_k8s/schemas/inferenceservice-v1beta1.json`, 422 Invalid). Pod
status and the InferenceService's `Ready` condition and `status.url` change only through
`set_status`.

What it does not do: admission beyond that, quota accounting (status.used is reported as
zeros unless a test sets it), quantity canonicalisation, watches, server-side apply, RBAC
enforcement, controllers (no Job or spark-operator runs pods), the Foreground deletion's
intermediate state (the object is gone at once).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import functools
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from hopsworks_api.backends.runner.kubernetes import crd_json_schema

DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
KSERVE_SCHEMA = (
    Path(__file__).resolve().parents[2]
    / "stacks/kubernetes/hops_k8s/schemas/inferenceservice-v1beta1.json"
)
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
QUANTITY = re.compile(
    r"^[+-]?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$"
)
STANDARD_QUOTA = {
    "pods",
    "services",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "replicationcontrollers",
    "resourcequotas",
    "services.loadbalancers",
    "services.nodeports",
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.storage",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
}
RBAC_GROUP = "rbac.authorization.k8s.io"


@dataclass(frozen=True)
class Kind:
    plural: str
    kind: str
    api_version: str
    namespaced: bool
    name_rule: re.Pattern[str]


KINDS = {
    "namespaces": Kind("namespaces", "Namespace", "v1", False, DNS_LABEL),
    "resourcequotas": Kind("resourcequotas", "ResourceQuota", "v1", True, DNS_SUBDOMAIN),
    "secrets": Kind("secrets", "Secret", "v1", True, DNS_SUBDOMAIN),
    # RBAC names only need to be valid path segments; a DNS subdomain is stricter but
    # everything the platform sends is one.
    "rolebindings": Kind(
        "rolebindings", "RoleBinding", f"{RBAC_GROUP}/v1", True, re.compile(r"^[^/%]+$")
    ),
    "jobs": Kind("jobs", "Job", "batch/v1", True, DNS_SUBDOMAIN),
    "pods": Kind("pods", "Pod", "v1", True, DNS_SUBDOMAIN),
    "sparkapplications": Kind(
        "sparkapplications",
        "SparkApplication",
        "sparkoperator.k8s.io/v1beta2",
        True,
        DNS_SUBDOMAIN,
    ),
    "services": Kind("services", "Service", "v1", True, DNS_1035_LABEL),
    "networkpolicies": Kind(
        "networkpolicies", "NetworkPolicy", "networking.k8s.io/v1", True, DNS_SUBDOMAIN
    ),
    "inferenceservices": Kind(
        "inferenceservices",
        "InferenceService",
        "serving.kserve.io/v1beta1",
        True,
        DNS_1035_LABEL,
    ),
}
CUSTOM_KINDS = {"sparkapplications", "inferenceservices"}


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, name: str = "", kind: str = ""):
        super().__init__(message)
        self.code, self.reason, self.message, self.name, self.kind = (
            code,
            reason,
            message,
            name,
            kind,
        )

    def response(self) -> JSONResponse:
        details: dict[str, Any] = {}
        if self.name:
            details["name"] = self.name
        if self.kind:
            details["kind"] = self.kind
        return JSONResponse(
            status_code=self.code,
            content=status_body("Failure", self.message, self.reason, self.code, details),
        )


def status_body(status: str, message: str, reason: str, code: int, details: dict) -> dict:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": status,
        "message": message,
        "reason": reason,
        "details": details,
        "code": code,
    }


@functools.cache
def crd_validator() -> jsonschema.protocols.Validator:
    return jsonschema.Draft7Validator(crd_json_schema())


@functools.cache
def kserve_validator() -> jsonschema.protocols.Validator:
    schema = json.loads(KSERVE_SCHEMA.read_text())
    return jsonschema.validators.validator_for(schema)(schema)


def matches(labels: dict[str, str], selector: str) -> bool:
    for term in (t.strip() for t in selector.split(",") if t.strip()):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.split("==", 1) if "==" in term else term.split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


@dataclass
class KubernetesFake:
    token: str | None = "test-token"
    kube_version: str = "1.30"
    hold_termination: bool = False
    forbid_writes: bool = False
    fault: str | None = None
    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    deletions: list[tuple[str, str, str, str]] = field(default_factory=list)
    logs: dict[tuple[str, str], bytes] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _version: int = 1000

    # -- test hooks -----------------------------------------------------------------

    def names(self, plural: str, namespace: str = "") -> list[str]:
        return sorted(n for (p, ns, n) in self.objects if p == plural and ns == namespace)

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((plural, namespace, name))

    def finish_terminations(self) -> None:
        with self.lock:
            for key, obj in list(self.objects.items()):
                if key[0] == "namespaces" and obj["status"]["phase"] == "Terminating":
                    self._purge_namespace(key[2])

    def add_pod(
        self, namespace: str, name: str, labels: dict[str, str], owner: tuple[str, str]
    ) -> None:
        """A pod as a controller would create it for the object `owner` = (plural, name)."""
        with self.lock:
            parent = self.objects[(owner[0], namespace, owner[1])]
            self.create(
                "pods",
                namespace,
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {
                        "name": name,
                        "labels": labels,
                        "ownerReferences": [
                            {
                                "apiVersion": parent["apiVersion"],
                                "kind": parent["kind"],
                                "name": owner[1],
                                "uid": parent["metadata"]["uid"],
                                "controller": True,
                            }
                        ],
                    },
                    "spec": {"containers": [{"name": "main", "image": "example"}]},
                },
            )

    def set_status(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        """What a controller would write to the status subresource."""
        with self.lock:
            self.objects[(plural, namespace, name)]["status"] = copy.deepcopy(status)

    def set_log(self, namespace: str, pod: str, text: bytes) -> None:
        with self.lock:
            self.logs[(namespace, pod)] = text

    def writes(self) -> int:
        return sum(1 for method, _ in self.requests if method in ("POST", "PUT", "DELETE"))

    # -- validation -----------------------------------------------------------------

    def _check(self, kind: Kind, obj: Any, namespace: str, name_in_url: str | None) -> None:
        if not isinstance(obj, dict):
            raise ApiError(400, "BadRequest", "the body is not an object")
        if obj.get("kind") != kind.kind or obj.get("apiVersion") != kind.api_version:
            raise ApiError(
                400,
                "BadRequest",
                f"the API version/kind in the data ({obj.get('apiVersion')}/{obj.get('kind')}) "
                f"does not match the expected ({kind.api_version}/{kind.kind})",
            )
        if kind.plural in CUSTOM_KINDS:
            self._check_custom(kind, obj)
        else:
            self._check_core(obj)
        metadata = obj.get("metadata") or {}
        name = metadata.get("name")
        if not name:
            raise ApiError(422, "Invalid", "metadata.name: Required value", kind=kind.plural)
        if name_in_url is not None and name != name_in_url:
            raise ApiError(400, "BadRequest", "the name of the object does not match the URL")
        longest = 63 if kind.plural == "namespaces" else 253
        if not kind.name_rule.fullmatch(name) or len(name) > longest:
            raise ApiError(
                422, "Invalid", f"metadata.name: Invalid value: {name!r}", name, kind.plural
            )
        if kind.namespaced and metadata.get("namespace", namespace) != namespace:
            raise ApiError(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on "
                "the request",
            )
        for key, value in (metadata.get("labels") or {}).items():
            prefix, _, label = key.rpartition("/")
            bad_key = (prefix and not DNS_SUBDOMAIN.fullmatch(prefix)) or not (
                LABEL_NAME.fullmatch(label) and len(label) <= 63
            )
            bad_value = value and (len(value) > 63 or not LABEL_NAME.fullmatch(value))
            if bad_key or bad_value:
                raise ApiError(
                    422,
                    "Invalid",
                    f"metadata.labels: Invalid value: {key}={value!r}",
                    name,
                    kind.plural,
                )
        getattr(self, f"_check_{kind.plural}", lambda obj, name: None)(obj, name)

    def _check_core(self, obj: dict[str, Any]) -> None:
        try:
            kubernetes_validate.validate(obj, self.kube_version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path)
            raise ApiError(
                400, "BadRequest", f"strict decoding error: {where}: {exc.message}"
            ) from exc

    def _check_custom(self, kind: Kind, obj: dict[str, Any]) -> None:
        validator = kserve_validator() if kind.plural == "inferenceservices" else crd_validator()
        error = jsonschema.exceptions.best_match(validator.iter_errors(obj))
        if error is not None:
            where = ".".join(str(p) for p in error.absolute_path)
            raise ApiError(
                422,
                "Invalid",
                f"{kind.kind}.{kind.api_version.split('/')[0]} is invalid: {where}: "
                f"{error.message}",
                (obj.get("metadata") or {}).get("name", ""),
                kind.plural,
            )

    def _check_resourcequotas(self, obj: dict[str, Any], name: str) -> None:
        for resource, value in ((obj.get("spec") or {}).get("hard") or {}).items():
            value = str(value)
            if not QUANTITY.fullmatch(value):
                raise ApiError(
                    400,
                    "BadRequest",
                    f"quantities must match the regular "
                    f"expression: spec.hard[{resource}]={value!r}",
                )
            if value.startswith("-"):
                raise ApiError(422, "Invalid", f"spec.hard[{resource}]: must be >= 0", name)
            if (
                resource not in STANDARD_QUOTA
                and not (resource.startswith("requests.") and "/" in resource)
                and not resource.startswith("count/")
            ):
                raise ApiError(
                    422,
                    "Invalid",
                    f"spec.hard[{resource}]: Invalid value: must be a standard resource for "
                    "quota (extended resources only as requests.<name>)",
                    name,
                    "resourcequotas",
                )

    def _check_secrets(self, obj: dict[str, Any], name: str) -> None:
        data = obj.get("data") or {}
        for key, value in data.items():
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ApiError(400, "BadRequest", f"data[{key}]: illegal base64 data") from exc
        if obj.get("type") == "kubernetes.io/tls":
            for required in ("tls.crt", "tls.key"):
                if required not in data:
                    raise ApiError(
                        422, "Invalid", f"data[{required}]: Required value", name, "secrets"
                    )

    def _check_rolebindings(self, obj: dict[str, Any], name: str) -> None:
        ref = obj.get("roleRef") or {}
        if ref.get("apiGroup") != RBAC_GROUP or ref.get("kind") not in ("Role", "ClusterRole"):
            raise ApiError(422, "Invalid", "roleRef: Unsupported value", name, "rolebindings")
        for subject in obj.get("subjects") or []:
            kind = subject.get("kind")
            group = subject.get("apiGroup", "")
            if kind in ("User", "Group") and group != RBAC_GROUP:
                raise ApiError(
                    422,
                    "Invalid",
                    f"subjects.apiGroup: Unsupported value: {group!r}",
                    name,
                    "rolebindings",
                )
            if kind not in ("User", "Group", "ServiceAccount"):
                raise ApiError(
                    422,
                    "Invalid",
                    f"subjects.kind: Unsupported value: {kind!r}",
                    name,
                    "rolebindings",
                )

    # -- storage --------------------------------------------------------------------

    def _next_version(self) -> str:
        self._version += 1
        return str(self._version)

    def _namespace_usable(self, namespace: str, creating: bool) -> None:
        current = self.objects.get(("namespaces", "", namespace))
        if current is None:
            raise ApiError(
                404, "NotFound", f'namespaces "{namespace}" not found', namespace, "namespaces"
            )
        if creating and current["status"]["phase"] == "Terminating":
            raise ApiError(
                403,
                "Forbidden",
                f"unable to create new content in namespace {namespace} because it is being "
                "terminated",
                namespace,
                "namespaces",
            )

    def create(self, plural: str, namespace: str, obj: Any) -> dict[str, Any]:
        kind = KINDS[plural]
        self._check(kind, obj, namespace, None)
        if kind.namespaced:
            self._namespace_usable(namespace, creating=True)
        name = obj["metadata"]["name"]
        key = (plural, namespace, name)
        if key in self.objects:
            raise ApiError(409, "AlreadyExists", f'{plural} "{name}" already exists', name, plural)
        stored = copy.deepcopy(obj)
        metadata = stored["metadata"]
        metadata.update(
            uid=str(uuid.uuid4()),
            resourceVersion=self._next_version(),
            creationTimestamp=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        if kind.namespaced:
            metadata["namespace"] = namespace
        if plural == "namespaces":
            metadata.setdefault("labels", {})["kubernetes.io/metadata.name"] = name
            stored["spec"] = {"finalizers": ["kubernetes"]}
            stored["status"] = {"phase": "Active"}
        if plural == "resourcequotas":
            hard = stored.get("spec", {}).get("hard", {})
            stored["status"] = {"hard": dict(hard), "used": {k: "0" for k in hard}}
        if plural == "secrets":
            stored.setdefault("type", "Opaque")
        self.objects[key] = stored
        return stored

    def replace(self, plural: str, namespace: str, name: str, obj: Any) -> dict[str, Any]:
        kind = KINDS[plural]
        self._check(kind, obj, namespace, name)
        key = (plural, namespace, name)
        current = self.objects.get(key)
        if current is None:
            raise ApiError(404, "NotFound", f'{plural} "{name}" not found', name, plural)
        wanted_version = obj["metadata"].get("resourceVersion")
        if wanted_version and wanted_version != current["metadata"]["resourceVersion"]:
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {plural} "{name}": the object has been '
                "modified; please apply your changes to the latest version and try again",
                name,
                plural,
            )
        if plural == "secrets" and obj.get("type", "Opaque") != current.get("type"):
            raise ApiError(422, "Invalid", "type: Invalid value: field is immutable", name, plural)
        if plural == "rolebindings" and obj.get("roleRef") != current.get("roleRef"):
            raise ApiError(
                422, "Invalid", "roleRef: Invalid value: cannot change roleRef", name, plural
            )
        stored = copy.deepcopy(obj)
        stored["metadata"].update(
            uid=current["metadata"]["uid"],
            creationTimestamp=current["metadata"]["creationTimestamp"],
            resourceVersion=self._next_version(),
        )
        if kind.namespaced:
            stored["metadata"]["namespace"] = namespace
        if plural == "namespaces":
            stored["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
            stored["spec"], stored["status"] = current["spec"], current["status"]
        if plural == "resourcequotas":
            hard = stored.get("spec", {}).get("hard", {})
            stored["status"] = {"hard": dict(hard), "used": {k: "0" for k in hard}}
        self.objects[key] = stored
        return stored

    def _purge_namespace(self, namespace: str) -> None:
        for key in [k for k in self.objects if k[1] == namespace]:
            del self.objects[key]
        self.objects.pop(("namespaces", "", namespace), None)

    def delete(self, plural: str, namespace: str, name: str, body: bytes = b"") -> dict[str, Any]:
        key = (plural, namespace, name)
        current = self.objects.get(key)
        if current is None:
            raise ApiError(404, "NotFound", f'{plural} "{name}" not found', name, plural)
        policy = ""
        if body.strip():
            try:
                options = json.loads(body)
            except ValueError as exc:
                raise ApiError(400, "BadRequest", f"invalid DeleteOptions: {exc}") from exc
            if options.get("kind", "DeleteOptions") != "DeleteOptions":
                raise ApiError(400, "BadRequest", "the body is not DeleteOptions")
            policy = options.get("propagationPolicy") or ""
            if policy not in ("", "Foreground", "Background", "Orphan"):
                raise ApiError(400, "BadRequest", f"unknown propagationPolicy {policy!r}")
        self.deletions.append((plural, namespace, name, policy))
        if plural != "namespaces" and policy != "Orphan":
            uid = current["metadata"]["uid"]
            for other, obj in list(self.objects.items()):
                owners = obj["metadata"].get("ownerReferences") or []
                if other[1] == namespace and any(o.get("uid") == uid for o in owners):
                    del self.objects[other]
        if plural == "namespaces":
            current["status"]["phase"] = "Terminating"
            current["metadata"].setdefault(
                "deletionTimestamp", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            )
            result = copy.deepcopy(current)
            if not self.hold_termination:
                self._purge_namespace(name)
            return result
        del self.objects[key]
        return status_body("Success", "", "", 200, {"name": name, "kind": plural})

    def list(self, plural: str, namespace: str, selector: str) -> dict[str, Any]:
        kind = KINDS[plural]
        items = []
        for (p, ns, _), obj in sorted(self.objects.items()):
            if (
                p == plural
                and ns == namespace
                and matches(obj["metadata"].get("labels") or {}, selector)
            ):
                item = copy.deepcopy(obj)
                item.pop("kind", None)  # list items carry no kind/apiVersion
                item.pop("apiVersion", None)
                items.append(item)
        return {
            "kind": f"{kind.kind}List",
            "apiVersion": kind.api_version,
            "metadata": {"resourceVersion": str(self._version)},
            "items": items,
        }

    # -- the ASGI app ---------------------------------------------------------------

    def build_app(self) -> FastAPI:
        app = FastAPI(openapi_url=None)

        @app.middleware("http")
        async def gate(request: Request, call_next):  # type: ignore[no-untyped-def]
            self.requests.append((request.method, request.url.path))
            if self.fault == "error":
                return JSONResponse(
                    status_body(
                        "Failure", "etcdserver: request timed out", "InternalError", 500, {}
                    ),
                    status_code=500,
                )
            if self.fault == "slow":
                await asyncio.sleep(60)
            if self.token and request.headers.get("authorization") != f"Bearer {self.token}":
                return ApiError(401, "Unauthorized", "Unauthorized").response()
            if self.forbid_writes and request.method != "GET":
                return ApiError(
                    403,
                    "Forbidden",
                    'User "system:serviceaccount:hops:hopsworks-api" cannot '
                    f"{request.method.lower()} this resource",
                ).response()
            return await call_next(request)

        def handle(
            request: Request, plural: str, namespace: str, name: str | None, body: bytes
        ) -> JSONResponse:
            try:
                with self.lock:
                    if request.method == "GET" and name is None:
                        selector = request.query_params.get("labelSelector", "")
                        return JSONResponse(self.list(plural, namespace, selector))
                    if request.method == "GET":
                        obj = self.objects.get((plural, namespace, name))
                        if obj is None:
                            raise ApiError(
                                404, "NotFound", f'{plural} "{name}" not found', name, plural
                            )
                        return JSONResponse(obj)
                    if request.method == "DELETE" and name is not None:
                        return JSONResponse(self.delete(plural, namespace, name, body))
                    try:
                        obj = json.loads(body)
                    except ValueError as exc:
                        raise ApiError(400, "BadRequest", f"invalid JSON: {exc}") from exc
                    if request.method == "POST" and name is None:
                        return JSONResponse(self.create(plural, namespace, obj), status_code=201)
                    if request.method == "PUT" and name is not None:
                        return JSONResponse(self.replace(plural, namespace, name, obj))
                    raise ApiError(405, "MethodNotAllowed", "the server does not allow this method")
            except ApiError as exc:
                return exc.response()

        methods = ["GET", "POST", "PUT", "DELETE"]

        @app.api_route("/api/v1/namespaces", methods=methods)
        async def namespaces(request: Request) -> JSONResponse:
            return handle(request, "namespaces", "", None, await request.body())

        @app.api_route("/api/v1/namespaces/{name}", methods=methods)
        async def namespace(request: Request, name: str) -> JSONResponse:
            return handle(request, "namespaces", "", name, await request.body())

        @app.api_route("/api/v1/namespaces/{ns}/{plural}", methods=methods)
        async def core_collection(request: Request, ns: str, plural: str) -> JSONResponse:
            if plural not in ("resourcequotas", "secrets", "pods", "services"):
                return ApiError(
                    404, "NotFound", "the server could not find the requested resource"
                ).response()
            return handle(request, plural, ns, None, await request.body())

        @app.api_route("/api/v1/namespaces/{ns}/{plural}/{name}", methods=methods)
        async def core_item(request: Request, ns: str, plural: str, name: str) -> JSONResponse:
            if plural not in ("resourcequotas", "secrets", "pods", "services"):
                return ApiError(
                    404, "NotFound", "the server could not find the requested resource"
                ).response()
            return handle(request, plural, ns, name, await request.body())

        rbac = f"/apis/{RBAC_GROUP}/v1/namespaces/{{ns}}/rolebindings"

        @app.api_route(rbac, methods=methods)
        async def bindings(request: Request, ns: str) -> JSONResponse:
            return handle(request, "rolebindings", ns, None, await request.body())

        @app.api_route(rbac + "/{name}", methods=methods)
        async def binding(request: Request, ns: str, name: str) -> JSONResponse:
            return handle(request, "rolebindings", ns, name, await request.body())

        @app.get("/api/v1/namespaces/{ns}/pods/{name}/log")
        def pod_log(ns: str, name: str) -> Response:
            with self.lock:
                if ("pods", ns, name) not in self.objects:
                    return ApiError(404, "NotFound", f'pods "{name}" not found', name).response()
                text = self.logs.get((ns, name))
            if text is None:
                return ApiError(
                    400,
                    "BadRequest",
                    f'container "main" in pod "{name}" is waiting to start: ContainerCreating',
                ).response()
            return Response(text, media_type="text/plain")

        jobs = "/apis/batch/v1/namespaces/{ns}/jobs"
        sparkapps = "/apis/sparkoperator.k8s.io/v1beta2/namespaces/{ns}/sparkapplications"

        @app.api_route(jobs, methods=methods)
        async def job_collection(request: Request, ns: str) -> JSONResponse:
            return handle(request, "jobs", ns, None, await request.body())

        @app.api_route(jobs + "/{name}", methods=methods)
        async def job_item(request: Request, ns: str, name: str) -> JSONResponse:
            return handle(request, "jobs", ns, name, await request.body())

        @app.api_route(sparkapps, methods=methods)
        async def spark_collection(request: Request, ns: str) -> JSONResponse:
            return handle(request, "sparkapplications", ns, None, await request.body())

        @app.api_route(sparkapps + "/{name}", methods=methods)
        async def spark_item(request: Request, ns: str, name: str) -> JSONResponse:
            return handle(request, "sparkapplications", ns, name, await request.body())

        def routes(plural: str, prefix: str) -> None:
            path = f"{prefix}/namespaces/{{ns}}/{plural}"

            async def listing(request: Request, ns: str) -> JSONResponse:
                return handle(request, plural, ns, None, await request.body())

            async def single(request: Request, ns: str, name: str) -> JSONResponse:
                return handle(request, plural, ns, name, await request.body())

            app.add_api_route(path, listing, methods=methods)
            app.add_api_route(path + "/{name}", single, methods=methods)

        routes("networkpolicies", "/apis/networking.k8s.io/v1")
        routes("inferenceservices", "/apis/serving.kserve.io/v1beta1")

        return app
