"""`KubernetesBackend` over the Kubernetes REST API, with httpx (no client library).

Only four resources are touched, by their documented REST paths (API reference, v1.30):
`/api/v1/namespaces`, `/api/v1/namespaces/{ns}/resourcequotas`, `.../secrets` and
`/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings`.

Idempotency is client-side "ensure": GET the object; absent -> POST (a 409 AlreadyExists
means another writer won the race: compare again); present and different -> PUT with the
`resourceVersion` just read (a 409 Conflict means it changed meanwhile: read again; 3
attempts). Immutable fields (a RoleBinding's `roleRef`, a Secret's `type`) are changed by
delete-then-create. DELETE answering 404 is success. Desired and actual are compared by
meaning, not text: quantities by value (the server canonicalises `1024Mi` to `1Gi`),
labels and annotations as a subset (the server adds `kubernetes.io/metadata.name`).

Ownership: a namespace is the platform's only if it carries
`app.kubernetes.io/managed-by: hopsworks-api` and the project's annotation. A project
whose namespace name is taken by anything else (`default`, `kube-system` for
`kube_system`) is refused with `Conflict`, and `delete_project` (the saga's undo) leaves
such a namespace alone.

Every object is validated against the official schema before the first request of an
operation, so an invalid object is refused without any call (`BadRequest`
`invalid_kubernetes_object`).

Errors (API conventions: failures come as a `Status` object with `reason` and `code`):
no answer / timeout / 5xx / 429 / 401 -> `BackendUnavailable("kubernetes")`; 403 ->
`BackendUnavailable` (the platform's service account lacks a permission) except the
NamespaceLifecycle refusal "being terminated" -> `Conflict` (retry once the namespace is
gone); 404 -> `NotFound`; 409 -> `Conflict`; 413 -> `PayloadTooLarge`; 400/422 ->
`BadRequest`.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable, Generator, Mapping
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from hopsworks_api.backends.errors import BackendUnavailable
from hopsworks_api.backends.http import make_client, send, snippet
from hopsworks_api.backends.kubernetes.base import (
    ANNOTATION_PROJECT,
    DEFAULT_CLUSTER_ROLES,
    DEFAULT_KUBE_VERSION,
    DEFAULT_NAMESPACE_LABELS,
    LABEL_COMPONENT,
    LABEL_PROJECT,
    LABEL_USER,
    MANAGED_BY,
    QUOTA_NAME,
    KubeQuota,
    ProjectDescription,
    check_project,
    fingerprint,
    namespace_for,
    namespace_manifest,
    resource_quota_manifest,
    role_binding_manifest,
    role_binding_name,
    same_hard,
    secret_name,
    tls_secret_manifest,
    validate_manifest,
)
from hopsworks_api.errors import BadRequest, Conflict, NotFound, PayloadTooLarge

log = logging.getLogger(__name__)

SYSTEM = "kubernetes"
ATTEMPTS = 3
RBAC = "/apis/rbac.authorization.k8s.io/v1"

Obj = dict[str, Any]


class BearerToken(httpx.Auth):
    """A bearer token, re-read from `token_file` on every request: projected service
    account tokens are rotated by the kubelet, and a stale one would fail with 401."""

    def __init__(self, token: str | None = None, token_file: str | None = None) -> None:
        self._token = token
        self._file = Path(token_file) if token_file else None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._file.read_text().strip() if self._file else self._token
        if token:
            request.headers["Authorization"] = f"Bearer {token}"
        yield request


def _status(response: httpx.Response) -> tuple[str, str]:
    """(reason, message) of a `Status` error body, or of whatever came instead."""
    try:
        body = response.json()
    except ValueError:
        return "", snippet(response)
    if isinstance(body, dict) and body.get("kind") == "Status":
        return str(body.get("reason") or ""), str(body.get("message") or "")
    return "", snippet(response)


def _subset(wanted: Mapping[str, str] | None, actual: Mapping[str, str] | None) -> bool:
    actual = actual or {}
    return all(actual.get(k) == v for k, v in (wanted or {}).items())


def _same_metadata(current: Obj, desired: Obj) -> bool:
    have, want = current.get("metadata") or {}, desired["metadata"]
    return _subset(want.get("labels"), have.get("labels")) and _subset(
        want.get("annotations"), have.get("annotations")
    )


def _decoded(data: Mapping[str, str] | None) -> dict[str, bytes]:
    try:
        return {k: base64.b64decode(v) for k, v in (data or {}).items()}
    except ValueError:
        return {}


class ClusterKubernetes:
    """`KubernetesBackend` for a real cluster.

    api_url           API server, e.g. `https://10.0.0.1:6443` (in a pod:
                      `https://kubernetes.default.svc`).
    token / token_file  bearer token, or the file it is re-read from (in a pod:
                      `/var/run/secrets/kubernetes.io/serviceaccount/token`).
    client_cert       (certificate, key) files for client-certificate authentication.
    ca_file           CA bundle of the API server (in a pod: `.../serviceaccount/ca.crt`).
    kube_version      schema version objects are validated against (the cluster's minor).
    cluster_roles     platform role -> ClusterRole name.
    namespace_labels  extra labels on every project namespace (Pod Security level).
    timeout, connect_timeout, verify: see `backends.http`.
    """

    def __init__(
        self,
        api_url: str,
        *,
        token: str | None = None,
        token_file: str | None = None,
        client_cert: tuple[str, str] | None = None,
        ca_file: str | None = None,
        verify: bool = True,
        timeout: float = 5.0,
        connect_timeout: float = 3.0,
        kube_version: str = DEFAULT_KUBE_VERSION,
        cluster_roles: Mapping[str, str] = DEFAULT_CLUSTER_ROLES,
        namespace_labels: Mapping[str, str] = DEFAULT_NAMESPACE_LABELS,
    ) -> None:
        self.kube_version = kube_version
        self.cluster_roles = dict(cluster_roles)
        self.namespace_labels = dict(namespace_labels)
        self._client = make_client(
            api_url,
            timeout=timeout,
            connect_timeout=connect_timeout,
            verify=verify,
            ca_file=ca_file,
            client_cert=client_cert,
            auth=BearerToken(token, token_file) if (token or token_file) else None,
            headers={"Accept": "application/json", "User-Agent": "hopsworks-api"},
        )
        self._lock = threading.RLock()

    def close(self) -> None:
        self._client.close()

    # -- wire ---------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return send(self._client, SYSTEM, method, path, **kwargs)

    def _fail(self, response: httpx.Response, what: str) -> Exception:
        reason, message = _status(response)
        code = response.status_code
        text = f"{what}: {message or reason or code}"
        if code == 403:
            if "being terminated" in message:
                return Conflict(
                    f"{text}; try again once the namespace is gone", code="namespace_terminating"
                )
            return BackendUnavailable(SYSTEM, f"{text} (the platform's account lacks a permission)")
        if code == 404:
            return NotFound(text)
        if code == 409:
            return Conflict(text, code="kubernetes_conflict")
        if code == 413:
            return PayloadTooLarge(text)
        return BadRequest(text, code="kubernetes_refused")

    def _get(self, path: str, what: str) -> Obj | None:
        response = self._call("GET", path)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._fail(response, what)
        return response.json()

    def _list(self, path: str, selector: Mapping[str, str], what: str) -> list[Obj]:
        labels = ",".join(f"{k}={v}" for k, v in selector.items())
        response = self._call("GET", path, params={"labelSelector": labels})
        if response.status_code != 200:
            raise self._fail(response, what)
        return list(response.json().get("items") or [])

    def _delete(self, path: str, what: str) -> None:
        response = self._call("DELETE", path)
        if response.status_code not in (200, 202, 404):
            raise self._fail(response, what)

    def _ensure(
        self,
        collection: str,
        desired: Obj,
        same: Callable[[Obj, Obj], bool],
        immutable_changed: Callable[[Obj, Obj], bool] = lambda current, desired: False,
        adoptable: Callable[[Obj], None] = lambda current: None,
    ) -> None:
        """GET, then POST or PUT until the object is as desired (see the module docs).
        `adoptable` raises if an existing object must not be taken over."""
        name = desired["metadata"]["name"]
        item = f"{collection}/{quote(name, safe='')}"
        what = f"{desired['kind']} {name}"
        for _ in range(ATTEMPTS):
            current = self._get(item, what)
            if current is None:
                response = self._call("POST", collection, json=desired)
                if response.status_code == 409:
                    continue  # created meanwhile: compare with it
                if response.status_code not in (200, 201, 202):
                    raise self._fail(response, f"creating {what}")
                return
            adoptable(current)
            if same(current, desired):
                return
            if immutable_changed(current, desired):
                self._delete(item, f"replacing {what}")
                continue
            metadata = current.get("metadata") or {}
            replacement = {
                **desired,
                "metadata": {
                    **desired["metadata"],
                    "labels": {**(metadata.get("labels") or {}), **desired["metadata"]["labels"]},
                    "annotations": {
                        **(metadata.get("annotations") or {}),
                        **(desired["metadata"].get("annotations") or {}),
                    },
                    "resourceVersion": metadata.get("resourceVersion"),
                },
            }
            validate_manifest(replacement, self.kube_version)
            response = self._call("PUT", item, json=replacement)
            if response.status_code == 409:
                continue  # changed meanwhile: read it again
            if response.status_code != 200:
                raise self._fail(response, f"updating {what}")
            return
        raise Conflict(f"{what} kept changing while it was being updated; try again")

    @staticmethod
    def _ours(current: Obj, project: str) -> bool:
        """Created by the platform for this project: a namespace that merely has the same
        name (`default` for a project `default`, `kube-system` for `kube_system`) is not."""
        metadata = current.get("metadata") or {}
        labels, annotations = metadata.get("labels") or {}, metadata.get("annotations") or {}
        return (
            labels.get(MANAGED_BY[0]) == MANAGED_BY[1]
            and annotations.get(ANNOTATION_PROJECT) == project
        )

    def _namespace_path(self, namespace: str) -> str:
        return f"/api/v1/namespaces/{namespace}"

    def _require_namespace(self, project: str) -> str:
        namespace = namespace_for(project)
        current = self._get(self._namespace_path(namespace), f"Namespace {namespace}")
        if current is None:
            raise NotFound(f"project '{project}' has no Kubernetes namespace")
        if (current.get("status") or {}).get("phase") == "Terminating":
            raise Conflict(
                f"namespace {namespace} is being deleted; try again once it is gone",
                code="namespace_terminating",
            )
        return namespace

    # -- KubernetesBackend ----------------------------------------------------------

    def ensure_project(self, project: str, quota: KubeQuota) -> None:
        namespace_obj = namespace_manifest(project, self.namespace_labels)
        quota_obj = resource_quota_manifest(project, quota)
        for obj in (namespace_obj, quota_obj):
            validate_manifest(obj, self.kube_version)
        namespace = namespace_obj["metadata"]["name"]

        def adoptable(current: Obj) -> None:
            if not self._ours(current, project):
                raise Conflict(
                    f"namespace {namespace} exists and is not managed by the platform for "
                    f"project '{project}'; choose another project name",
                    code="namespace_not_managed",
                )

        with self._lock:
            self._ensure("/api/v1/namespaces", namespace_obj, _same_metadata, adoptable=adoptable)
            self._require_namespace(project)  # not one that is still terminating
            self._ensure(
                f"{self._namespace_path(namespace)}/resourcequotas",
                quota_obj,
                lambda current, desired: (
                    _same_metadata(current, desired)
                    and same_hard(
                        (current.get("spec") or {}).get("hard") or {}, desired["spec"]["hard"]
                    )
                ),
            )

    def delete_project(self, project: str) -> None:
        """Delete the project's namespace, never one the platform does not own (this is the
        undo of `ensure_project`, which refuses such a namespace)."""
        namespace = namespace_for(project)
        path = self._namespace_path(namespace)
        with self._lock:
            current = self._get(path, f"Namespace {namespace}")
            if current is None:
                return
            if not self._ours(current, project):
                log.warning("not deleting namespace %s: not managed for %s", namespace, project)
                return
            self._delete(path, f"deleting Namespace {namespace}")

    def grant_member(self, project: str, username: str, role: str) -> None:
        binding = role_binding_manifest(project, username, role, self.cluster_roles)
        validate_manifest(binding, self.kube_version)
        with self._lock:
            namespace = self._require_namespace(project)
            self._ensure(
                f"{RBAC}/namespaces/{namespace}/rolebindings",
                binding,
                lambda current, desired: (
                    _same_metadata(current, desired)
                    and current.get("roleRef") == desired["roleRef"]
                    and current.get("subjects") == desired["subjects"]
                ),
                immutable_changed=lambda current, desired: (
                    current.get("roleRef") != desired["roleRef"]
                ),
            )

    def revoke_member(self, project: str, username: str) -> None:
        namespace = namespace_for(project)
        name = role_binding_name(username)
        self._delete(
            f"{RBAC}/namespaces/{namespace}/rolebindings/{name}", f"deleting RoleBinding {name}"
        )

    def store_member_certificate(
        self, project: str, username: str, cert_pem: str, key_pem: str, ca_pem: str
    ) -> None:
        secret = tls_secret_manifest(project, username, cert_pem, key_pem, ca_pem)
        validate_manifest(secret, self.kube_version)
        with self._lock:
            namespace = self._require_namespace(project)
            self._ensure(
                f"{self._namespace_path(namespace)}/secrets",
                secret,
                lambda current, desired: (
                    _same_metadata(current, desired)
                    and current.get("type") == desired["type"]
                    and _decoded(current.get("data")) == _decoded(desired["data"])
                ),
                immutable_changed=lambda current, desired: current.get("type") != desired["type"],
            )

    def delete_member_certificate(self, project: str, username: str) -> None:
        namespace = namespace_for(project)
        name = secret_name(username)
        self._delete(f"{self._namespace_path(namespace)}/secrets/{name}", f"deleting Secret {name}")

    def describe_project(self, project: str) -> ProjectDescription:
        namespace = namespace_for(project)
        base = self._namespace_path(namespace)
        current = self._get(base, f"Namespace {namespace}")
        if current is None:
            return ProjectDescription(project=project, namespace=namespace, exists=False)
        quota = self._get(f"{base}/resourcequotas/{QUOTA_NAME}", "ResourceQuota")
        selector = {MANAGED_BY[0]: MANAGED_BY[1], LABEL_PROJECT: namespace}
        members: dict[str, str] = {}
        roles = {name: role for role, name in self.cluster_roles.items()}
        for binding in self._list(
            f"{RBAC}/namespaces/{namespace}/rolebindings",
            {**selector, LABEL_COMPONENT: "member"},
            "listing RoleBindings",
        ):
            user = ((binding.get("metadata") or {}).get("labels") or {}).get(LABEL_USER)
            role_name = (binding.get("roleRef") or {}).get("name", "")
            if user:
                members[user] = roles.get(role_name, f"clusterrole:{role_name}")
        certificates: dict[str, str] = {}
        for secret in self._list(
            f"{base}/secrets",
            {**selector, LABEL_COMPONENT: "member-certificate"},
            "listing Secrets",
        ):
            user = ((secret.get("metadata") or {}).get("labels") or {}).get(LABEL_USER)
            certificate = _decoded(secret.get("data")).get("tls.crt")
            if user and certificate is not None:
                certificates[user] = fingerprint(certificate)
        hard = ((quota or {}).get("spec") or {}).get("hard") or {}
        return ProjectDescription(
            project=project,
            namespace=namespace,
            exists=True,
            terminating=(current.get("status") or {}).get("phase") == "Terminating",
            quota=KubeQuota.from_hard(hard) if quota else None,
            quota_hard=dict(hard),
            quota_used=dict(((quota or {}).get("status") or {}).get("used") or {}),
            members=members,
            certificates=certificates,
        )

    def batch(self) -> AbstractContextManager[None]:
        """Each change is an API request of its own, sent as it is made."""
        return nullcontext()

    def list_projects(self) -> list[str]:
        """Projects that have a namespace managed by the platform (from its annotation)."""
        items = self._list(
            "/api/v1/namespaces",
            {MANAGED_BY[0]: MANAGED_BY[1], LABEL_COMPONENT: "project"},
            "listing Namespaces",
        )
        names = []
        for item in items:
            project = ((item.get("metadata") or {}).get("annotations") or {}).get(
                ANNOTATION_PROJECT
            )
            if project:
                try:
                    names.append(check_project(project))
                except BadRequest:
                    log.warning("namespace with an invalid project annotation: %s", project)
        return sorted(names)
