"""The policy pack's policies, run as the analyzer runs them: on the resources the program
registers (none violated) and on hand-made bad objects (each one caught)."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
from pulumi_policy import (
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)

from hops_k8s import policies
from hops_k8s.policies import RESOURCE_POLICIES, STACK_POLICIES, tolerates_gpu_taint
from tests.stacks.kubernetes.conftest import STACK_DIR
from tests.stacks.kubernetes.support import Registered, Run

OPTIONS = PolicyResourceOptions(False, [], None, [], None, [], None)


def _urn(resource_type: str, name: str) -> str:
    return f"urn:pulumi:dev::hops-kubernetes::{resource_type}::{name}"


def check(policy, resource_type: str, props: dict, name: str = "r") -> list[str]:
    violations: list[str] = []
    args = ResourceValidationArgs(
        resource_type, props, _urn(resource_type, name), name, OPTIONS, None
    )
    policy.validate(args, lambda message, urn=None: violations.append(message))
    return violations


def check_stack(policy, resources: list[tuple[str, dict]]) -> list[str]:
    violations: list[str] = []
    items = [
        PolicyResource(t, p, _urn(t, str(i)), str(i), OPTIONS, None, None, [], {})
        for i, (t, p) in enumerate(resources)
    ]
    policy.validate(
        StackValidationArgs(items), lambda message, urn=None: violations.append(message)
    )
    return violations


def by_name(resources: list[Registered], kind: str, name: str) -> dict:
    (found,) = [r for r in resources if r.kind == kind and r.plain["metadata"]["name"] == name]
    return copy.deepcopy(found.plain)


def test_the_registered_resources_violate_no_policy(deployed: Run) -> None:
    resources = deployed.recorder.custom()
    checked = 0
    for policy in RESOURCE_POLICIES:
        for resource in resources:
            assert check(policy, resource.type, resource.plain, resource.name) == [], (
                policy.name,
                resource.name,
            )
            checked += 1
    assert checked == len(RESOURCE_POLICIES) * len(resources) > 200
    for policy in STACK_POLICIES:
        assert check_stack(policy, [(r.type, r.plain) for r in resources]) == []


def test_resource_limits_are_required(deployed: Run) -> None:
    policy = next(p for p in RESOURCE_POLICIES if p.name == "hops-resource-limits")
    props = by_name(deployed.recorder.custom(), "Deployment", "hops-api")
    del props["spec"]["template"]["spec"]["initContainers"][0]["resources"]["limits"]["memory"]
    assert check(policy, "kubernetes:apps/v1:Deployment", props) == [
        "hops/hops-api: container 'seed-ca' has no memory limit"
    ]


def test_workloads_must_not_run_as_root_except_the_device_plugin(deployed: Run) -> None:
    policy = next(p for p in RESOURCE_POLICIES if p.name == "hops-run-as-non-root")
    sts = by_name(deployed.recorder.custom(), "StatefulSet", "hops-kafka")
    del sts["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"]
    del sts["spec"]["template"]["spec"]["containers"][0]["securityContext"]["runAsNonRoot"]
    assert check(policy, "kubernetes:apps/v1:StatefulSet", sts) == [
        "hops/hops-kafka: container 'kafka' may run as root (set runAsNonRoot: true and a non-zero runAsUser)"
    ]
    explicit_root = by_name(deployed.recorder.custom(), "Deployment", "hops-hive-metastore")
    explicit_root["spec"]["template"]["spec"]["containers"][0]["securityContext"]["runAsUser"] = 0
    assert len(check(policy, "kubernetes:apps/v1:Deployment", explicit_root)) == 1
    # The device plugin runs as root by necessity; the same DaemonSet elsewhere may not.
    plugin = by_name(deployed.recorder.custom(), "DaemonSet", "nvidia-device-plugin")
    assert check(policy, "kubernetes:apps/v1:DaemonSet", plugin) == []
    plugin["metadata"]["namespace"] = "hops"
    assert len(check(policy, "kubernetes:apps/v1:DaemonSet", plugin)) == 1


def test_only_the_api_port_may_be_exposed(deployed: Run) -> None:
    policy = next(p for p in RESOURCE_POLICIES if p.name == "hops-service-exposure")
    api = by_name(deployed.recorder.custom(), "Service", "hops-api")
    assert (
        api["spec"]["type"] == "LoadBalancer"
        and check(policy, "kubernetes:core/v1:Service", api) == []
    )
    kafka = by_name(deployed.recorder.custom(), "Service", "hops-kafka")
    kafka["spec"]["type"] = "NodePort"
    assert len(check(policy, "kubernetes:core/v1:Service", kafka)) == 1
    api["spec"]["ports"].append({"name": "debug", "port": 5005})
    assert len(check(policy, "kubernetes:core/v1:Service", api)) == 1


def test_gpu_pods_must_tolerate_the_gpu_taint(deployed: Run) -> None:
    policy = next(p for p in RESOURCE_POLICIES if p.name == "hops-gpu-toleration")
    deployment = by_name(deployed.recorder.custom(), "Deployment", "hops-api")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["resources"]["limits"]["nvidia.com/gpu"] = "1"
    assert check(policy, "kubernetes:apps/v1:Deployment", deployment) == [
        "hops/hops-api: requests GPUs but does not tolerate the taint nvidia.com/gpu:NoSchedule"
    ]
    deployment["spec"]["template"]["spec"]["tolerations"] = [
        {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}
    ]
    assert check(policy, "kubernetes:apps/v1:Deployment", deployment) == []
    # An InferenceService's predictor too.
    isvc = by_name(deployed.recorder.custom(), "InferenceService", "sklearn-iris")
    isvc["spec"]["predictor"]["model"]["resources"]["limits"]["nvidia.com/gpu"] = "1"
    resource_type = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
    assert len(check(policy, resource_type, isvc)) == 1
    isvc["spec"]["predictor"]["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists"}]
    assert check(policy, resource_type, isvc) == []


@pytest.mark.parametrize(
    ("tolerations", "tolerated"),
    [
        ([{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}], True),
        ([{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}], True),
        ([{"operator": "Exists"}], True),
        ([{"key": "nvidia.com/gpu", "value": "absent", "effect": "NoSchedule"}], False),
        ([{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoExecute"}], False),
        ([{"key": "other", "operator": "Exists"}], False),
        (None, False),
    ],
)
def test_toleration_matching(tolerations, tolerated: bool) -> None:
    assert tolerates_gpu_taint(tolerations) is tolerated


def test_labels_are_required(deployed: Run) -> None:
    policy = next(p for p in RESOURCE_POLICIES if p.name == "hops-standard-labels")
    config_map = by_name(deployed.recorder.custom(), "ConfigMap", "hops-kafka-config")
    config_map["metadata"]["labels"]["app.kubernetes.io/managed-by"] = "helm"
    assert check(policy, "kubernetes:core/v1:ConfigMap", config_map) == [
        "hops/hops-kafka-config: missing or wrong labels app.kubernetes.io/managed-by"
    ]
    assert check(policy, "kubernetes:helm.sh/v3:Release", {"chart": "x"}) == []


def test_the_platform_namespace_needs_a_default_deny_policy(deployed: Run) -> None:
    (policy,) = STACK_POLICIES
    resources = [(r.type, r.plain) for r in deployed.recorder.custom()]
    without = [
        (t, p)
        for t, p in resources
        if not (t.endswith(":NetworkPolicy") and p["metadata"]["name"] == "default-deny")
    ]
    assert check_stack(policy, without) == [
        "namespace hops has no default-deny ingress NetworkPolicy"
    ]
    # A "deny" that admits something is no default deny.
    leaky = copy.deepcopy(resources)
    for t, p in leaky:
        if t.endswith(":NetworkPolicy") and p["metadata"]["name"] == "default-deny":
            p["spec"]["ingress"] = [{}]
    assert len(check_stack(policy, leaky)) == 1


def test_the_policy_module_does_not_serve_the_pack() -> None:
    """Importing the policies must not construct a PolicyPack (that blocks on a server)."""
    code = (
        f"import sys; sys.path.insert(0, {str(STACK_DIR)!r}); import hops_k8s.policies; print('ok')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "ok", result.stderr
    pack = (STACK_DIR / "policy" / "__main__.py").read_text()
    assert "PolicyPack(" in pack and "ALL_POLICIES" in pack
    assert {p.name for p in policies.ALL_POLICIES} == {
        "hops-resource-limits",
        "hops-run-as-non-root",
        "hops-service-exposure",
        "hops-gpu-toleration",
        "hops-standard-labels",
        "hops-namespace-default-deny",
    }
