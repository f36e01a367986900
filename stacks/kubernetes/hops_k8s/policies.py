"""Policies for the platform's Kubernetes resources (pulumi-policy).

Only the policy objects live here; the pack that serves them is ../policy/__main__.py
(constructing a `PolicyPack` starts its gRPC server and blocks, so it must not happen on
import). Each `validate` receives the resource's type token and its inputs (camelCase, as
the engine records them) and reports violations; tests run them on the resources the
program registers and on hand-made bad objects.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from hops_k8s import meta

POD = "kubernetes:core/v1:Pod"
SERVICE = "kubernetes:core/v1:Service"
NAMESPACE = "kubernetes:core/v1:Namespace"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
INFERENCE_SERVICE = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
TEMPLATED = {
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
    "kubernetes:apps/v1:ReplicaSet",
    "kubernetes:batch/v1:Job",
}
CRON_JOB = "kubernetes:batch/v1:CronJob"
WORKLOADS = {*TEMPLATED, CRON_JOB, POD}
# Not Kubernetes objects: Helm releases and providers carry no labels of their own.
UNLABELLED_PREFIXES = ("kubernetes:helm.sh/", "pulumi:providers:")

# Workloads allowed to run as root, with the reason. The NVIDIA device plugin creates its
# socket in the kubelet's root-owned device-plugins directory (a hostPath); it drops all
# capabilities and cannot escalate, but it must be uid 0.
ROOT_EXEMPT: Mapping[tuple[str, str, str], str] = {
    (
        "kubernetes:apps/v1:DaemonSet",
        meta.NVIDIA_NAMESPACE,
        meta.NVIDIA_DEVICE_PLUGIN,
    ): "writes its socket into the kubelet's root-owned device-plugins directory",
}


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def pod_spec(resource_type: str, props: Mapping[str, Any]) -> Mapping[str, Any] | None:
    if resource_type == POD:
        return _get(props, "spec")
    if resource_type in TEMPLATED:
        return _get(props, "spec", "template", "spec")
    if resource_type == CRON_JOB:
        return _get(props, "spec", "jobTemplate", "spec", "template", "spec")
    return None


def _containers(spec: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for field in ("initContainers", "containers"):
        yield from spec.get(field) or []


def _name(props: Mapping[str, Any]) -> str:
    return f"{_get(props, 'metadata', 'namespace') or '-'}/{_get(props, 'metadata', 'name')}"


# -- the policies ---------------------------------------------------------------------------


def _resource_limits(args: ResourceValidationArgs, report: ReportViolation) -> None:
    spec = pod_spec(args.resource_type, args.props)
    if spec is None:
        return
    for container in _containers(spec):
        limits = _get(container, "resources", "limits") or {}
        missing = [r for r in ("cpu", "memory") if r not in limits]
        if missing:
            report(
                f"{_name(args.props)}: container '{container.get('name')}' has no "
                f"{' or '.join(missing)} limit"
            )


def _non_root(args: ResourceValidationArgs, report: ReportViolation) -> None:
    spec = pod_spec(args.resource_type, args.props)
    if spec is None:
        return
    key = (
        args.resource_type,
        _get(args.props, "metadata", "namespace"),
        _get(args.props, "metadata", "name"),
    )
    if key in ROOT_EXEMPT:
        return
    pod_level = _get(spec, "securityContext", "runAsNonRoot") is True
    pod_root = _get(spec, "securityContext", "runAsUser") == 0
    for container in _containers(spec):
        context = container.get("securityContext") or {}
        non_root = context.get("runAsNonRoot", pod_level) is True
        root = context.get("runAsUser") == 0 or (pod_root and "runAsUser" not in context)
        if not non_root or root:
            report(
                f"{_name(args.props)}: container '{container.get('name')}' may run as root "
                "(set runAsNonRoot: true and a non-zero runAsUser)"
            )


def _service_exposure(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != SERVICE:
        return
    service_type = _get(args.props, "spec", "type") or "ClusterIP"
    if service_type not in ("LoadBalancer", "NodePort"):
        return
    selector = _get(args.props, "spec", "selector") or {}
    ports = _get(args.props, "spec", "ports") or []
    other = [p.get("port") for p in ports if p.get("port") != meta.API_PORT]
    if selector.get(meta.LABEL_NAME) != meta.API or other or not ports:
        report(
            f"{_name(args.props)}: a {service_type} Service may only expose the control "
            f"service's port {meta.API_PORT} (selects {dict(selector)}, ports {other or ports})"
        )


def _requests_gpu(container: Mapping[str, Any]) -> bool:
    resources = container.get("resources") or {}
    return any(meta.GPU_RESOURCE in (resources.get(part) or {}) for part in ("limits", "requests"))


def tolerates_gpu_taint(tolerations: Any) -> bool:
    """Whether tolerations admit the taint nvidia.com/gpu=present:NoSchedule."""
    for toleration in tolerations or []:
        operator = toleration.get("operator") or "Equal"
        key_matches = toleration.get("key") == meta.GPU_TAINT_KEY or (
            not toleration.get("key") and operator == "Exists"
        )
        value_matches = operator == "Exists" or toleration.get("value") == "present"
        effect_matches = toleration.get("effect") in (None, "", meta.GPU_TAINT_EFFECT)
        if key_matches and value_matches and effect_matches:
            return True
    return False


def _gpu_toleration(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == INFERENCE_SERVICE:
        for component in ("predictor", "transformer", "explainer"):
            spec = _get(args.props, "spec", component)
            if not isinstance(spec, Mapping):
                continue
            containers = [*(spec.get("containers") or [])]
            if isinstance(spec.get("model"), Mapping):
                containers.append(spec["model"])
            if any(_requests_gpu(c) for c in containers) and not tolerates_gpu_taint(
                spec.get("tolerations")
            ):
                report(
                    f"{_name(args.props)}: the {component} requests GPUs but does not "
                    f"tolerate the taint {meta.GPU_TAINT_KEY}:{meta.GPU_TAINT_EFFECT}"
                )
        return
    spec = pod_spec(args.resource_type, args.props)
    if spec is None:
        return
    if any(_requests_gpu(c) for c in _containers(spec)) and not tolerates_gpu_taint(
        spec.get("tolerations")
    ):
        report(
            f"{_name(args.props)}: requests GPUs but does not tolerate the taint "
            f"{meta.GPU_TAINT_KEY}:{meta.GPU_TAINT_EFFECT}"
        )


def _standard_labels(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not args.resource_type.startswith("kubernetes:") or args.resource_type.startswith(
        UNLABELLED_PREFIXES
    ):
        return
    labels = _get(args.props, "metadata", "labels") or {}
    expected = {meta.LABEL_PART_OF: meta.PART_OF, meta.LABEL_MANAGED_BY: meta.MANAGED_BY}
    wrong = [k for k, v in expected.items() if labels.get(k) != v]
    if not labels.get(meta.LABEL_NAME):
        wrong.insert(0, meta.LABEL_NAME)
    if wrong:
        report(f"{_name(args.props)}: missing or wrong labels {', '.join(wrong)}")


def is_default_deny(props: Mapping[str, Any]) -> bool:
    """A NetworkPolicy selecting every pod and admitting no ingress."""
    selector = _get(props, "spec", "podSelector")
    selects_all = (
        isinstance(selector, Mapping)
        and not selector.get("matchLabels")
        and not (selector.get("matchExpressions"))
    )
    types = _get(props, "spec", "policyTypes") or []
    return selects_all and "Ingress" in types and not _get(props, "spec", "ingress")


def _namespace_default_deny(args: StackValidationArgs, report: ReportViolation) -> None:
    platform = {
        _get(r.props, "metadata", "name"): r.urn
        for r in args.resources
        if r.resource_type == NAMESPACE
        and _get(r.props, "metadata", "labels", meta.LABEL_ROLE) == "platform"
    }
    covered = {
        _get(r.props, "metadata", "namespace")
        for r in args.resources
        if r.resource_type == NETWORK_POLICY and is_default_deny(r.props)
    }
    for name, urn in platform.items():
        if name not in covered:
            report(f"namespace {name} has no default-deny ingress NetworkPolicy", urn)


RESOURCE_POLICIES: list[ResourceValidationPolicy] = [
    ResourceValidationPolicy(
        name="hops-resource-limits",
        description="Every container of a workload has CPU and memory limits.",
        validate=_resource_limits,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="hops-run-as-non-root",
        description="Workloads run as a non-root user (the NVIDIA device plugin excepted).",
        validate=_non_root,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="hops-service-exposure",
        description="Only the control service's API port is exposed by a LoadBalancer or "
        "NodePort Service.",
        validate=_service_exposure,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="hops-gpu-toleration",
        description="Pods requesting nvidia.com/gpu tolerate the GPU nodes' taint.",
        validate=_gpu_toleration,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="hops-standard-labels",
        description="Objects carry app.kubernetes.io/name, part-of: hopsworks, managed-by: pulumi.",
        validate=_standard_labels,
        enforcement_level=EnforcementLevel.ADVISORY,
    ),
]
STACK_POLICIES: list[StackValidationPolicy] = [
    StackValidationPolicy(
        name="hops-namespace-default-deny",
        description="The platform namespace has a default-deny ingress NetworkPolicy.",
        validate=_namespace_default_deny,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
]
ALL_POLICIES = [*RESOURCE_POLICIES, *STACK_POLICIES]
