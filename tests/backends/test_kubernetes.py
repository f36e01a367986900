"""The Kubernetes backends: the embedded record and the cluster client (against the API
server fake, which validates every object with the official schemas as well).

Shared tests run on both, so the embedded default keeps the same rules; the cluster tests
check the objects on the wire, server-side idempotency, error mapping, schema validation
before any request, and bounded time when the API server is down or hung.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest

from hopsworks_api.backends.errors import BackendUnavailable
from hopsworks_api.backends.kubernetes import KubeQuota, KubernetesBackend, base, namespace_for
from hopsworks_api.backends.kubernetes import cluster as cluster_module
from hopsworks_api.backends.kubernetes.base import fingerprint
from hopsworks_api.backends.kubernetes.cluster import ClusterKubernetes
from hopsworks_api.backends.kubernetes.embedded import EmbeddedKubernetes
from hopsworks_api.errors import BadRequest, Conflict, NotFound
from tests.support.kubernetes_fake import KubernetesFake
from tests.support.yarn_fake import blackhole, dead_url, serve

BOUND_SECONDS = 15
TOKEN = "test-token"
QUOTA = KubeQuota(cpu="8", memory="32Gi", gpus=2)


def pem(kind: str, body: str) -> str:
    return f"-----BEGIN {kind}-----\n{base64.b64encode(body.encode()).decode()}\n-----END {kind}-----\n"


CERT, KEY, CA = pem("CERTIFICATE", "alice"), pem("PRIVATE KEY", "secret"), pem("CERTIFICATE", "ca")


@pytest.fixture
def kfake() -> KubernetesFake:
    return KubernetesFake(token=TOKEN)


@pytest.fixture
def api_url(kfake: KubernetesFake) -> Iterator[str]:
    with serve(kfake.build_app()) as url:
        yield url


@pytest.fixture
def cluster(api_url: str) -> Iterator[ClusterKubernetes]:
    backend = ClusterKubernetes(api_url, token=TOKEN, timeout=2.0, connect_timeout=1.0)
    yield backend
    backend.close()


@pytest.fixture(params=["none", "cluster"])
def kube(request: pytest.FixtureRequest, tmp_path: Path) -> KubernetesBackend:
    if request.param == "none":
        return EmbeddedKubernetes(tmp_path / "state")
    return request.getfixturevalue("cluster")


# -- the contract, on both implementations ---------------------------------------------


def test_ensure_project_is_idempotent_and_described(kube: KubernetesBackend) -> None:
    kube.ensure_project("demo", QUOTA)
    kube.ensure_project("demo", QUOTA)
    described = kube.describe_project("demo")
    assert (described.exists, described.namespace, described.terminating) == (True, "demo", False)
    assert described.quota == KubeQuota(cpu="8", memory="32Gi", gpus=2)
    assert described.quota_hard == {
        "requests.cpu": "8",
        "limits.cpu": "8",
        "requests.memory": "32Gi",
        "limits.memory": "32Gi",
        "requests.nvidia.com/gpu": "2",
    }
    assert (described.members, described.certificates) == ({}, {})
    assert kube.list_projects() == ["demo"]


def test_ensure_project_converges_the_quota(kube: KubernetesBackend) -> None:
    kube.ensure_project("demo", QUOTA)
    kube.ensure_project("demo", KubeQuota(cpu="500m", memory=2**30, gpus=0))
    assert kube.describe_project("demo").quota_hard["requests.cpu"] == "500m"
    assert kube.describe_project("demo").quota_hard["limits.memory"] == str(2**30)


def test_members_granted_changed_and_revoked(kube: KubernetesBackend) -> None:
    kube.ensure_project("demo", QUOTA)
    kube.grant_member("demo", "alice", "data_scientist")
    kube.grant_member("demo", "alice", "data_scientist")
    kube.grant_member("demo", "bob", "data_owner")
    assert kube.describe_project("demo").members == {
        "alice": "data_scientist",
        "bob": "data_owner",
    }
    kube.grant_member("demo", "alice", "data_owner")  # a role change
    assert kube.describe_project("demo").members["alice"] == "data_owner"
    kube.revoke_member("demo", "alice")
    kube.revoke_member("demo", "alice")
    kube.revoke_member("gone", "alice")  # no project: nothing to revoke
    assert kube.describe_project("demo").members == {"bob": "data_owner"}


def test_member_objects_need_the_project(kube: KubernetesBackend) -> None:
    with pytest.raises(NotFound):
        kube.grant_member("demo", "alice", "data_owner")
    with pytest.raises(NotFound):
        kube.store_member_certificate("demo", "alice", CERT, KEY, CA)


def test_certificates_stored_replaced_and_deleted(kube: KubernetesBackend) -> None:
    kube.ensure_project("demo", QUOTA)
    kube.store_member_certificate("demo", "alice", CERT, KEY, CA)
    kube.store_member_certificate("demo", "alice", CERT, KEY, CA)
    assert kube.describe_project("demo").certificates == {"alice": fingerprint(CERT)}
    renewed = pem("CERTIFICATE", "alice-renewed")
    kube.store_member_certificate("demo", "alice", renewed, KEY, CA)
    assert kube.describe_project("demo").certificates == {"alice": fingerprint(renewed)}
    kube.delete_member_certificate("demo", "alice")
    kube.delete_member_certificate("demo", "alice")
    assert kube.describe_project("demo").certificates == {}


def test_delete_project_is_idempotent_and_undoes_everything(kube: KubernetesBackend) -> None:
    kube.delete_project("demo")
    kube.ensure_project("demo", QUOTA)
    kube.grant_member("demo", "alice", "data_owner")
    kube.store_member_certificate("demo", "alice", CERT, KEY, CA)
    kube.delete_project("demo")
    kube.delete_project("demo")
    assert kube.describe_project("demo").exists is False
    assert kube.list_projects() == []


@pytest.mark.parametrize(
    ("call", "args"),
    [
        ("ensure_project", ("demo", KubeQuota(cpu="lots", memory="1Gi"))),
        ("ensure_project", ("demo", KubeQuota(cpu="1", memory="-1Gi"))),
        ("ensure_project", ("demo", KubeQuota(cpu="1", memory="1Gi", gpus=-1))),
        ("ensure_project", ("Demo", QUOTA)),
        ("ensure_project", ("de__mo", QUOTA)),
        ("grant_member", ("demo", "alice", "admin")),
        ("grant_member", ("demo", "Alice_1", "data_owner")),
        ("store_member_certificate", ("demo", "alice", "not pem", KEY, CA)),
    ],
)
def test_invalid_input_is_refused(kube: KubernetesBackend, call: str, args: tuple) -> None:
    if call != "ensure_project":
        kube.ensure_project("demo", QUOTA)
    with pytest.raises(BadRequest):
        getattr(kube, call)(*args)


def test_project_names_map_to_namespace_names(kube: KubernetesBackend) -> None:
    assert namespace_for("my_project") == "my-project"
    odd = namespace_for("trailing_")
    digest = hashlib.sha256(b"trailing_").hexdigest()[:8]
    assert odd == f"trailing--{digest}"
    long_odd = namespace_for("a" * 62 + "_")
    assert len(long_odd) <= 63 and "--" in long_odd
    for project in ("my_project", "trailing_"):
        kube.ensure_project(project, QUOTA)
        assert kube.describe_project(project).namespace == namespace_for(project)
    assert kube.list_projects() == ["my_project", "trailing_"]


# -- the embedded record -------------------------------------------------------------


def test_embedded_remembers_desired_state_without_keys(tmp_path: Path) -> None:
    none = EmbeddedKubernetes(tmp_path)
    none.ensure_project("demo", QUOTA)
    none.grant_member("demo", "alice", "data_owner")
    none.store_member_certificate("demo", "alice", CERT, KEY, CA)
    text = (tmp_path / "projects" / "demo.json").read_text()
    assert "PRIVATE KEY" not in text and base64.b64encode(b"secret").decode() not in text
    again = EmbeddedKubernetes(tmp_path).describe_project("demo")
    assert again.members == {"alice": "data_owner"}
    assert again.certificates == {"alice": fingerprint(CERT)}


# -- the cluster client: objects on the wire ------------------------------------------


def test_cluster_objects_are_the_documented_ones(
    cluster: ClusterKubernetes, kfake: KubernetesFake
) -> None:
    cluster.ensure_project("demo", QUOTA)
    cluster.grant_member("demo", "alice", "data_scientist")
    cluster.store_member_certificate("demo", "alice", CERT, KEY, CA)

    namespace = kfake.get("namespaces", "", "demo")
    assert namespace is not None
    assert namespace["metadata"]["labels"] == {
        "app.kubernetes.io/managed-by": "hopsworks-api",
        "hops.io/project": "demo",
        "hops.io/component": "project",
        "pod-security.kubernetes.io/enforce": "baseline",
        "kubernetes.io/metadata.name": "demo",
    }
    assert namespace["metadata"]["annotations"] == {"hops.io/project": "demo"}

    quota = kfake.get("resourcequotas", "demo", "hops-project-quota")
    assert quota is not None and quota["spec"]["hard"]["requests.nvidia.com/gpu"] == "2"

    binding = kfake.get("rolebindings", "demo", "hops-member-alice")
    assert binding is not None
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "hops-data-scientist",
    }
    assert binding["subjects"] == [
        {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "demo__alice"}
    ]

    secret = kfake.get("secrets", "demo", "hops-cert-alice")
    assert secret is not None and secret["type"] == "kubernetes.io/tls"
    decoded = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert decoded == {"tls.crt": CERT, "tls.key": KEY, "ca.crt": CA}


def test_cluster_repeats_write_nothing(cluster: ClusterKubernetes, kfake: KubernetesFake) -> None:
    cluster.ensure_project("demo", QUOTA)
    cluster.grant_member("demo", "alice", "data_owner")
    cluster.store_member_certificate("demo", "alice", CERT, KEY, CA)
    writes = kfake.writes()
    cluster.ensure_project("demo", KubeQuota(cpu="8000m", memory="32768Mi", gpus=2))  # same
    cluster.grant_member("demo", "alice", "data_owner")
    cluster.store_member_certificate("demo", "alice", CERT, KEY, CA)
    assert kfake.writes() == writes


def test_cluster_undo_leaves_nothing_behind(
    cluster: ClusterKubernetes, kfake: KubernetesFake
) -> None:
    cluster.ensure_project("demo", QUOTA)
    cluster.grant_member("demo", "alice", "data_owner")
    cluster.store_member_certificate("demo", "alice", CERT, KEY, CA)
    cluster.revoke_member("demo", "alice")
    cluster.delete_member_certificate("demo", "alice")
    assert kfake.names("rolebindings", "demo") == kfake.names("secrets", "demo") == []
    cluster.delete_project("demo")
    assert kfake.objects == {}


def test_cluster_role_change_recreates_the_binding(
    cluster: ClusterKubernetes, kfake: KubernetesFake, api_url: str
) -> None:
    cluster.ensure_project("demo", QUOTA)
    cluster.grant_member("demo", "alice", "data_scientist")
    binding = kfake.get("rolebindings", "demo", "hops-member-alice")
    assert binding is not None
    changed = {**binding, "roleRef": {**binding["roleRef"], "name": "hops-data-owner"}}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    url = f"{api_url}/apis/rbac.authorization.k8s.io/v1/namespaces/demo/rolebindings"
    refused = httpx.put(f"{url}/hops-member-alice", json=changed, headers=headers)
    assert (refused.status_code, refused.json()["reason"]) == (422, "Invalid")  # immutable
    cluster.grant_member("demo", "alice", "data_owner")  # so: delete, then create
    binding = kfake.get("rolebindings", "demo", "hops-member-alice")
    assert binding is not None and binding["roleRef"]["name"] == "hops-data-owner"


def test_cluster_replaces_a_secret_of_another_type(
    cluster: ClusterKubernetes, kfake: KubernetesFake, api_url: str
) -> None:
    cluster.ensure_project("demo", QUOTA)
    opaque = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": "hops-cert-alice"},
        "data": {"x": "eA=="},
    }
    headers = {"Authorization": f"Bearer {TOKEN}"}
    created = httpx.post(f"{api_url}/api/v1/namespaces/demo/secrets", json=opaque, headers=headers)
    assert created.status_code == 201
    cluster.store_member_certificate("demo", "alice", CERT, KEY, CA)
    secret = kfake.get("secrets", "demo", "hops-cert-alice")
    assert secret is not None and secret["type"] == "kubernetes.io/tls"


def test_cluster_retries_when_the_object_changed_meanwhile(
    cluster: ClusterKubernetes, kfake: KubernetesFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster.ensure_project("demo", QUOTA)
    original = cluster._call
    seen: list[int] = []

    def racing_call(method: str, path: str, **kwargs: Any) -> httpx.Response:
        if method == "PUT" and not seen:  # another writer updates it first
            current = kfake.get("resourcequotas", "demo", "hops-project-quota")
            assert current is not None
            kfake.replace("resourcequotas", "demo", "hops-project-quota", current)
        response = original(method, path, **kwargs)
        if method == "PUT":
            seen.append(response.status_code)
        return response

    monkeypatch.setattr(cluster, "_call", racing_call)
    cluster.ensure_project("demo", KubeQuota(cpu="4", memory="8Gi", gpus=1))
    assert seen == [409, 200]
    assert cluster.describe_project("demo").quota == KubeQuota(cpu="4", memory="8Gi", gpus=1)


# -- schema validation ---------------------------------------------------------------


def test_invalid_object_is_refused_before_any_request(
    cluster: ClusterKubernetes, kfake: KubernetesFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = cluster_module.resource_quota_manifest

    def with_a_typo(project: str, quota: KubeQuota) -> dict[str, Any]:
        manifest = real(project, quota)
        manifest["spec"]["hardd"] = manifest["spec"].pop("hard")
        return manifest

    monkeypatch.setattr(cluster_module, "resource_quota_manifest", with_a_typo)
    with pytest.raises(BadRequest) as refused:
        cluster.ensure_project("demo", QUOTA)
    assert refused.value.code == "invalid_kubernetes_object"
    assert "hardd" in refused.value.message
    assert kfake.requests == []  # not even the namespace was asked for


def test_invalid_configuration_is_refused_before_any_request(
    api_url: str, kfake: KubernetesFake
) -> None:
    backend = ClusterKubernetes(api_url, token=TOKEN, namespace_labels={"team": 7})  # type: ignore[dict-item]
    with pytest.raises(BadRequest) as refused:
        backend.ensure_project("demo", QUOTA)
    assert refused.value.code == "invalid_kubernetes_object"
    assert kfake.requests == []


def test_fake_server_validates_objects_too(api_url: str, kfake: KubernetesFake) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    bogus = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}, "bogus": 1}
    refused = httpx.post(f"{api_url}/api/v1/namespaces", json=bogus, headers=headers)
    assert refused.status_code == 400
    assert refused.json()["kind"] == "Status" and refused.json()["reason"] == "BadRequest"
    bad_name = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "Not_DNS"}}
    refused = httpx.post(f"{api_url}/api/v1/namespaces", json=bad_name, headers=headers)
    assert (refused.status_code, refused.json()["reason"]) == (422, "Invalid")
    assert kfake.objects == {}


def test_server_side_refusal_is_a_bad_request(api_url: str) -> None:
    """Valid for the schema, invalid for the server (label syntax): 422 -> BadRequest."""
    backend = ClusterKubernetes(api_url, token=TOKEN, namespace_labels={"team": "a b"})
    with pytest.raises(BadRequest) as refused:
        backend.ensure_project("demo", QUOTA)
    assert refused.value.code == "kubernetes_refused"


# -- namespace lifecycle and errors -----------------------------------------------------


def test_terminating_namespace_is_a_conflict_until_gone(
    cluster: ClusterKubernetes, kfake: KubernetesFake
) -> None:
    kfake.hold_termination = True
    cluster.ensure_project("demo", QUOTA)
    cluster.delete_project("demo")
    assert cluster.describe_project("demo").terminating is True
    with pytest.raises(Conflict) as refused:
        cluster.ensure_project("demo", QUOTA)
    assert refused.value.code == "namespace_terminating"
    with pytest.raises(Conflict):
        cluster.grant_member("demo", "alice", "data_owner")
    kfake.finish_terminations()
    cluster.ensure_project("demo", QUOTA)
    assert cluster.describe_project("demo").exists is True


@pytest.mark.parametrize("project", ["default", "kube_system"])
def test_foreign_namespaces_are_never_adopted_nor_deleted(
    cluster: ClusterKubernetes, kfake: KubernetesFake, project: str
) -> None:
    namespace = namespace_for(project)
    kfake.create("namespaces", "", {"apiVersion": "v1", "kind": "Namespace",
                                    "metadata": {"name": namespace}})  # fmt: skip
    writes = kfake.writes()
    with pytest.raises(Conflict) as refused:
        cluster.ensure_project(project, QUOTA)
    assert refused.value.code == "namespace_not_managed"
    cluster.delete_project(project)  # the saga's undo: must leave it alone
    assert kfake.get("namespaces", "", namespace) is not None
    assert kfake.writes() == writes
    assert cluster.list_projects() == []


def test_missing_permission_is_a_system_error(
    cluster: ClusterKubernetes, kfake: KubernetesFake
) -> None:
    kfake.forbid_writes = True
    with pytest.raises(BackendUnavailable) as failed:
        cluster.ensure_project("demo", QUOTA)
    assert failed.value.system == "kubernetes"
    assert "permission" in failed.value.message


def test_refused_token_is_a_system_error(api_url: str) -> None:
    backend = ClusterKubernetes(api_url, token="wrong")
    with pytest.raises(BackendUnavailable) as failed:
        backend.describe_project("demo")
    assert "401" in failed.value.message


def test_token_file_is_read_on_every_request(api_url: str, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("expired\n")
    backend = ClusterKubernetes(api_url, token_file=str(token_file))
    with pytest.raises(BackendUnavailable):
        backend.ensure_project("demo", QUOTA)
    token_file.write_text(TOKEN + "\n")  # rotated by the kubelet
    backend.ensure_project("demo", QUOTA)
    assert backend.list_projects() == ["demo"]


def test_server_error_is_a_system_error(cluster: ClusterKubernetes, kfake: KubernetesFake) -> None:
    kfake.fault = "error"
    with pytest.raises(BackendUnavailable) as failed:
        cluster.ensure_project("demo", QUOTA)
    assert failed.value.status_code == 503
    assert "500" in failed.value.message


def test_api_server_down_fails_fast() -> None:
    backend = ClusterKubernetes(dead_url(), token=TOKEN)
    started = time.monotonic()
    with pytest.raises(BackendUnavailable):
        backend.ensure_project("demo", QUOTA)
    assert time.monotonic() - started < BOUND_SECONDS


def test_hung_api_server_fails_within_the_bound() -> None:
    with blackhole() as url:
        backend = ClusterKubernetes(url, token=TOKEN)  # default timeouts
        started = time.monotonic()
        with pytest.raises(BackendUnavailable) as failed:
            backend.describe_project("demo")
        elapsed = time.monotonic() - started
    assert "timed out" in failed.value.message
    assert elapsed < BOUND_SECONDS


def test_slow_api_server_fails_within_the_bound(
    cluster: ClusterKubernetes, kfake: KubernetesFake
) -> None:
    kfake.fault = "slow"
    started = time.monotonic()
    with pytest.raises(BackendUnavailable):
        cluster.grant_member("demo", "alice", "data_owner")
    assert time.monotonic() - started < BOUND_SECONDS


def test_the_kept_validators_judge_as_kubernetes_validate_does() -> None:
    """validate_manifest keeps one validator per kind (base._validator): it must accept
    and refuse exactly what the library's own `validate` does, with the same version."""
    objects = [
        base.namespace_manifest("demo", {"team": "a"}),
        base.resource_quota_manifest("demo", QUOTA),
        base.role_binding_manifest("demo", "ann", "data_owner", base.DEFAULT_CLUSTER_ROLES),
        base.tls_secret_manifest(
            "demo",
            "ann",
            pem("CERTIFICATE", "Y2VydA=="),
            pem("PRIVATE KEY", "a2V5"),
            pem("CERTIFICATE", "Y2E="),
        ),
    ]
    typo = base.resource_quota_manifest("demo", QUOTA)
    typo["spec"]["hardd"] = typo["spec"].pop("hard")
    wrong_type = base.namespace_manifest("demo", {})
    wrong_type["metadata"]["labels"] = ["not", "a", "map"]
    for version in ("1.30", "v1.31.2", base.DEFAULT_KUBE_VERSION):
        for obj in objects:
            kubernetes_validate.validate(obj, version, strict=True)
            base.validate_manifest(obj, version)
        for bad in (typo, wrong_type):
            with pytest.raises(kubernetes_validate.ValidationError) as theirs:
                kubernetes_validate.validate(bad, version, strict=True)
            with pytest.raises(BadRequest) as ours:
                base.validate_manifest(bad, version)
            assert f"Kubernetes {theirs.value.version}: " in ours.value.message
            assert theirs.value.message in ours.value.message
    unknown = {"apiVersion": "v1", "kind": "NoSuchKind", "metadata": {"name": "x"}}
    with pytest.raises(BadRequest, match="no schema"):
        base.validate_manifest(unknown)
