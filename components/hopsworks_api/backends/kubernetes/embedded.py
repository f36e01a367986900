"""`EmbeddedKubernetes`, the embedded default: no Kubernetes, but the desired state is
remembered.

A platform without Kubernetes (a laptop, a cluster without serving) still runs the same
sagas; this backend records what would have been created, under the same names and
rules as `ClusterKubernetes` (a member needs the project's namespace, roles must be known,
inputs are validated, and the manifests are built and schema-checked exactly as they
would be sent), so switching to a real cluster later lets `hops reconcile` create
everything from this record and the database. Private keys are never written here: a
certificate is remembered by its fingerprint.

The record is one JSON document per project, ``<state dir>/projects/<project>.json``
(`ProjectDocuments`: replaced atomically, changes serialised by a flock on
``kubernetes-desired.lock``), so a step reads and rewrites one small file whatever the
number of projects. Nothing here spans projects (a namespace, its bindings and Secrets
belong to one project), so there is no shared index; `list_projects` is a directory
listing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from hopsworks_api.backends.jsonstate import ProjectDocuments
from hopsworks_api.backends.kubernetes.base import (
    DEFAULT_CLUSTER_ROLES,
    DEFAULT_KUBE_VERSION,
    DEFAULT_NAMESPACE_LABELS,
    KubeQuota,
    ProjectDescription,
    check_project,
    check_username,
    fingerprint,
    namespace_for,
    namespace_manifest,
    resource_quota_manifest,
    role_binding_manifest,
    tls_secret_manifest,
    validate_manifest,
)
from hopsworks_api.errors import NotFound

PROJECTS_DIR = "projects"
LOCK_FILE = "kubernetes-desired.lock"
FORMAT_VERSION = 1


class EmbeddedKubernetes:
    def __init__(
        self,
        state_dir: Path,
        *,
        kube_version: str = DEFAULT_KUBE_VERSION,
        cluster_roles: Mapping[str, str] = DEFAULT_CLUSTER_ROLES,
        namespace_labels: Mapping[str, str] = DEFAULT_NAMESPACE_LABELS,
    ) -> None:
        self.kube_version = kube_version
        self.cluster_roles = dict(cluster_roles)
        self.namespace_labels = dict(namespace_labels)
        state_dir = Path(state_dir)
        self.documents = ProjectDocuments(state_dir / PROJECTS_DIR, state_dir / LOCK_FILE)

    def _update(self, project: str, change: Callable[[dict[str, Any]], None]) -> None:
        """Change the project's record; NotFound if it has no namespace."""
        with self.documents.transaction() as tx:
            entry = tx.get(project)
            if entry is None:
                raise NotFound(f"project '{project}' has no Kubernetes namespace")
            change(entry)

    def _update_if_present(self, project: str, change: Callable[[dict[str, Any]], None]) -> None:
        with self.documents.transaction() as tx:
            entry = tx.get(project)
            if entry is not None:
                change(entry)

    def ensure_project(self, project: str, quota: KubeQuota) -> None:
        validate_manifest(namespace_manifest(project, self.namespace_labels), self.kube_version)
        validate_manifest(resource_quota_manifest(project, quota), self.kube_version)
        hard = quota.hard()

        with self.documents.transaction() as tx:
            entry = tx.get(
                project,
                lambda: {"version": FORMAT_VERSION, "members": {}, "certificates": {}},
            )
            assert entry is not None
            entry["quota"] = hard

    def delete_project(self, project: str) -> None:
        check_project(project)
        with self.documents.transaction() as tx:
            tx.set(project, None)

    def grant_member(self, project: str, username: str, role: str) -> None:
        manifest = role_binding_manifest(project, username, role, self.cluster_roles)
        validate_manifest(manifest, self.kube_version)
        self._update(project, lambda entry: entry["members"].update({username: role}))

    def revoke_member(self, project: str, username: str) -> None:
        check_project(project)
        check_username(username)
        self._update_if_present(project, lambda entry: entry["members"].pop(username, None))

    def store_member_certificate(
        self, project: str, username: str, cert_pem: str, key_pem: str, ca_pem: str
    ) -> None:
        manifest = tls_secret_manifest(project, username, cert_pem, key_pem, ca_pem)
        validate_manifest(manifest, self.kube_version)
        print_ = fingerprint(cert_pem)
        self._update(project, lambda entry: entry["certificates"].update({username: print_}))

    def delete_member_certificate(self, project: str, username: str) -> None:
        check_project(project)
        check_username(username)
        self._update_if_present(project, lambda entry: entry["certificates"].pop(username, None))

    def describe_project(self, project: str) -> ProjectDescription:
        namespace = namespace_for(project)
        entry = self.documents.read(project)
        if entry is None:
            return ProjectDescription(project=project, namespace=namespace, exists=False)
        return ProjectDescription(
            project=project,
            namespace=namespace,
            exists=True,
            quota=KubeQuota.from_hard(entry["quota"]),
            quota_hard=dict(entry["quota"]),
            members=dict(entry["members"]),
            certificates=dict(entry["certificates"]),
        )

    def batch(self) -> AbstractContextManager[None]:
        """One write of the project's document for a whole converge (`ProjectDocuments.batch`)."""
        return self.documents.batch()

    def list_projects(self) -> list[str]:
        """Projects with a recorded namespace (reconciliation finds leftovers with it)."""
        return self.documents.names()
