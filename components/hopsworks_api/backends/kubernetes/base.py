"""The Kubernetes contract: a namespace per project, a quota, members bound to roles, and
each member's project certificate stored as a TLS Secret.

Naming (all derived here, in one place, so both implementations agree):

- namespace: the project name with `_` written `-` (namespace names are DNS-1123 labels:
  `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63). Project names never contain `-` nor
  `__`, so this is one-to-one. A project name ending in `_` cannot end a label; it gets
  `--` plus 8 hex digits of its SHA-256 instead (a `--` never comes from the plain rule,
  so the two forms cannot collide). The exact project name is kept in the annotation
  `hops.io/project`.
- ResourceQuota `hops-project-quota`: `requests.cpu` = `limits.cpu` = cpu,
  `requests.memory` = `limits.memory` = memory, `requests.nvidia.com/gpu` = gpus
  (extended resources are only quota'd by their `requests.` name).
- RoleBinding `hops-member-<username>` binding the subject `User` `<project>__<username>`
  (the CN of the member's project certificate, i.e. the identity the API server
  authenticates from it) to the ClusterRole of the member's platform role: `data_owner`
  -> `hops-data-owner`, `data_scientist` -> `hops-data-scientist` (configurable; the
  deployment creates these ClusterRoles with the rules of `hops_platform.project_roles`).
- Secret `hops-cert-<username>` of type `kubernetes.io/tls` (`tls.crt`, `tls.key`) with
  `ca.crt`, so workloads of the project can mount the member's credentials.

Every object carries `app.kubernetes.io/managed-by: hopsworks-api` (reconciliation lists
by it) and is validated against the official OpenAPI schemas (`kubernetes-validate`,
strict: unknown fields are errors) before it is sent.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

import jsonschema
import kubernetes_validate
import kubernetes_validate.utils as _kv_utils
from jsonschema import Draft202012Validator
from jsonschema.protocols import Validator
from referencing import Registry, Resource

from hops_platform.project_roles import CLUSTER_ROLES
from hops_platform.quantity import parse_quantity
from hopsworks_api.errors import BadRequest
from hopsworks_api.identity import PROJECT_NAME_RE

DEFAULT_KUBE_VERSION = "1.30"
MANAGED_BY = ("app.kubernetes.io/managed-by", "hopsworks-api")
LABEL_PROJECT = "hops.io/project"
LABEL_USER = "hops.io/user"
LABEL_COMPONENT = "hops.io/component"
ANNOTATION_PROJECT = "hops.io/project"
ANNOTATION_SUBJECT = "hops.io/project-user"
QUOTA_NAME = "hops-project-quota"
RBAC_GROUP = "rbac.authorization.k8s.io"
GPU_RESOURCE = "nvidia.com/gpu"
DEFAULT_CLUSTER_ROLES: Mapping[str, str] = CLUSTER_ROLES
DEFAULT_NAMESPACE_LABELS: Mapping[str, str] = {"pod-security.kubernetes.io/enforce": "baseline"}

USERNAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")
DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _quantity(value: str | int | float, what: str) -> str:
    text = str(value).strip() if not isinstance(value, bool) else ""
    try:
        parse_quantity(text)
    except ValueError as exc:
        raise BadRequest(
            f"{what} '{value}' is not a Kubernetes quantity", code="bad_quota"
        ) from exc
    return text


@dataclass(frozen=True)
class KubeQuota:
    """A project's share of the cluster for serving: CPU and memory (quantities such as
    `"8"`, `"500m"`, `"32Gi"`) and whole GPUs (None: no GPU limit in the namespace)."""

    cpu: str | int | float
    memory: str | int
    gpus: int | None = 0

    def hard(self) -> dict[str, str]:
        cpu = _quantity(self.cpu, "cpu")
        memory = _quantity(self.memory, "memory")
        hard = {
            "requests.cpu": cpu,
            "limits.cpu": cpu,
            "requests.memory": memory,
            "limits.memory": memory,
        }
        if self.gpus is None:
            return hard
        if isinstance(self.gpus, bool) or not isinstance(self.gpus, int) or self.gpus < 0:
            raise BadRequest("gpus must be a non-negative integer", code="bad_quota")
        return {**hard, f"requests.{GPU_RESOURCE}": str(self.gpus)}

    @classmethod
    def from_hard(cls, hard: Mapping[str, str]) -> KubeQuota:
        gpus = hard.get(f"requests.{GPU_RESOURCE}")
        return cls(
            cpu=hard.get("requests.cpu", "0"),
            memory=hard.get("requests.memory", "0"),
            gpus=None if gpus is None else int(parse_quantity(gpus)),
        )


def same_hard(current: Mapping[str, str], desired: Mapping[str, str]) -> bool:
    if set(current) != set(desired):
        return False
    try:
        return all(parse_quantity(current[k]) == parse_quantity(desired[k]) for k in desired)
    except ValueError:
        return False


@dataclass(frozen=True)
class ProjectDescription:
    """What the cluster holds for a project (or what `EmbeddedKubernetes` recorded), for
    reconciliation to compare with the database. Certificates are fingerprints (SHA-256 of
    the certificate PEM), never keys."""

    project: str
    namespace: str
    exists: bool
    terminating: bool = False
    quota: KubeQuota | None = None
    quota_hard: dict[str, str] = field(default_factory=dict)
    quota_used: dict[str, str] = field(default_factory=dict)
    members: dict[str, str] = field(default_factory=dict)  # username -> platform role
    certificates: dict[str, str] = field(default_factory=dict)  # username -> fingerprint


class KubernetesBackend(Protocol):
    def ensure_project(self, project: str, quota: KubeQuota) -> None:
        """Namespace and ResourceQuota exist as given (undo: `delete_project`)."""
        ...

    def delete_project(self, project: str) -> None:
        """Delete the namespace and so everything in it; absent is done."""
        ...

    def grant_member(self, project: str, username: str, role: str) -> None:
        """Bind `<project>__<username>` to the ClusterRole of `role` (undo: revoke)."""
        ...

    def revoke_member(self, project: str, username: str) -> None: ...

    def store_member_certificate(
        self, project: str, username: str, cert_pem: str, key_pem: str, ca_pem: str
    ) -> None:
        """Keep the member's project certificate as a TLS Secret (undo: delete)."""
        ...

    def delete_member_certificate(self, project: str, username: str) -> None: ...

    def describe_project(self, project: str) -> ProjectDescription: ...

    def list_projects(self) -> list[str]:
        """Projects the backend holds a namespace for (to find leftovers)."""
        ...

    def batch(self) -> AbstractContextManager[None]:
        """Group the changes of one converge of one project: a backend that keeps its own
        state writes it once at the end; one that sends each change to a cluster, as it goes."""
        ...


# -- names ---------------------------------------------------------------------------


def check_project(project: str) -> str:
    if not isinstance(project, str) or not PROJECT_NAME_RE.fullmatch(project) or "__" in project:
        raise BadRequest(f"'{project}' is not a valid project name", code="bad_project_name")
    return project


def check_username(username: str) -> str:
    if not isinstance(username, str) or not USERNAME_RE.fullmatch(username):
        raise BadRequest(f"'{username}' is not a valid username", code="bad_username")
    return username


def namespace_for(project: str) -> str:
    check_project(project)
    plain = project.replace("_", "-")
    if DNS_LABEL_RE.fullmatch(plain):
        return plain
    digest = hashlib.sha256(project.encode()).hexdigest()[:8]
    return f"{plain.rstrip('-')[:53]}--{digest}"


def project_subject(project: str, username: str) -> str:
    """The Kubernetes user of a member: the CN of the member's project certificate."""
    return f"{project}__{username}"


def role_binding_name(username: str) -> str:
    return f"hops-member-{check_username(username)}"


def secret_name(username: str) -> str:
    return f"hops-cert-{check_username(username)}"


def fingerprint(cert_pem: str | bytes) -> str:
    data = cert_pem.encode() if isinstance(cert_pem, str) else cert_pem
    return hashlib.sha256(data).hexdigest()


# -- manifests -----------------------------------------------------------------------


def _labels(project: str, component: str, **extra: str) -> dict[str, str]:
    return {
        MANAGED_BY[0]: MANAGED_BY[1],
        LABEL_PROJECT: namespace_for(project),
        LABEL_COMPONENT: component,
        **extra,
    }


def namespace_manifest(project: str, extra_labels: Mapping[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": namespace_for(project),
            "labels": {**extra_labels, **_labels(project, "project")},
            "annotations": {ANNOTATION_PROJECT: project},
        },
    }


def resource_quota_manifest(project: str, quota: KubeQuota) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {
            "name": QUOTA_NAME,
            "namespace": namespace_for(project),
            "labels": _labels(project, "quota"),
        },
        "spec": {"hard": quota.hard()},
    }


def role_binding_manifest(
    project: str, username: str, role: str, cluster_roles: Mapping[str, str]
) -> dict[str, Any]:
    if role not in cluster_roles:
        raise BadRequest(
            f"unknown role '{role}'; expected one of {sorted(cluster_roles)}", code="bad_role"
        )
    subject = project_subject(project, username)
    return {
        "apiVersion": f"{RBAC_GROUP}/v1",
        "kind": "RoleBinding",
        "metadata": {
            "name": role_binding_name(username),
            "namespace": namespace_for(project),
            "labels": _labels(project, "member", **{LABEL_USER: username}),
            "annotations": {ANNOTATION_SUBJECT: subject, "hops.io/role": role},
        },
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": cluster_roles[role]},
        "subjects": [{"kind": "User", "apiGroup": RBAC_GROUP, "name": subject}],
    }


def _pem(value: str | bytes, what: str) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    if not isinstance(data, bytes) or b"-----BEGIN " not in data:
        raise BadRequest(f"{what} is not PEM", code="bad_certificate")
    return data


def tls_secret_manifest(
    project: str, username: str, cert_pem: str | bytes, key_pem: str | bytes, ca_pem: str | bytes
) -> dict[str, Any]:
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {
            "name": secret_name(username),
            "namespace": namespace_for(project),
            "labels": _labels(project, "member-certificate", **{LABEL_USER: username}),
            "annotations": {ANNOTATION_SUBJECT: project_subject(project, username)},
        },
        "data": {
            "tls.crt": b64(_pem(cert_pem, "certificate")),
            "tls.key": b64(_pem(key_pem, "key")),
            "ca.crt": b64(_pem(ca_pem, "CA certificate")),
        },
    }


# kubernetes-validate re-reads and re-parses the schema files (the definitions file is
# several MB) on every call: ~30 ms per object, most of a project creation. Validation only
# reads the parsed schemas, so keeping them parsed is safe and makes it ~1 ms.
_kv_utils.schema_contents = functools.lru_cache(maxsize=128)(_kv_utils.schema_contents)
# It also lists its schema directory (hundreds of entries, sorted by version) twice per
# call, a fifth of an embedded project creation's CPU; the installed package's list does
# not change while the process runs.
_kv_utils.all_versions = functools.lru_cache(maxsize=1)(_kv_utils.all_versions)


@functools.lru_cache(maxsize=64)
def _validator(kind: str, api_version: str, kube_version: str) -> tuple[Validator, str]:
    """The strict schema validator of one kind, and the schema version it checks against,
    chosen as `kubernetes_validate.validate` chooses them (the newest schema not newer than
    `kube_version`). Kept: that function builds a new registry and validator on every
    call, which then resolves every `$ref` anew (a namespace: 1.2 -> 0.36 ms per object
    here; with a quota beside it 3.7 -> 1.9 ms); a validator only reads its schemas, so
    one serves every call and thread."""
    wanted = _kv_utils.major_minor(kube_version.removeprefix("v"))
    if wanted > _kv_utils.latest_version():
        raise kubernetes_validate.VersionNotSupportedError(version=wanted)
    version = [v for v in _kv_utils.all_versions() if _kv_utils.major_minor(v) <= wanted][-1]
    schema_dir = f"kubernetes-json-schema/v{version}-local-strict"
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = _kv_utils.schema_contents(f"{schema_dir}/{kind.lower()}-{group}.json", wanted)
    except FileNotFoundError:
        raise kubernetes_validate.SchemaNotFoundError(
            version=wanted, kind=kind, api_version=api_version
        ) from None
    definitions = _kv_utils.schema_contents(f"{schema_dir}/_definitions.json", wanted)
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return Draft202012Validator(schema, registry=registry), _kv_utils.major_minor(version)


def validate_manifest(obj: dict[str, Any], kube_version: str = DEFAULT_KUBE_VERSION) -> None:
    """Refuse an object the API server's official schema would refuse, before sending it.

    Strict mode: unknown fields are errors (a typo would otherwise be silently dropped by
    the server). An unknown kind is an error too: this client only sends kinds it knows.
    """
    try:
        validator, version = _validator(obj["kind"], obj["apiVersion"], kube_version)
        validator.validate(obj)
    except jsonschema.ValidationError as exc:
        where = ".".join(str(p) for p in exc.path) or "(object)"
        name = (obj.get("metadata") or {}).get("name")
        raise BadRequest(
            f"{obj.get('kind')} '{name}' is not valid for Kubernetes {version}: "
            f"{where}: {exc.message}",
            code="invalid_kubernetes_object",
        ) from exc
    except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as exc:
        raise BadRequest(
            f"no schema to validate {obj.get('kind')}: {exc.message}",
            code="invalid_kubernetes_object",
        ) from exc
