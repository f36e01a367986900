"""A serving in a Kubernetes cluster: KServe's `InferenceService` in the project's namespace,
rendered and bounded by the project's ResourceQuota. `backends/runner/kubernetes_servers.py`
validates it against KServe's CRD schema the repository carries
(`stacks/kubernetes/hops_k8s/schemas/inferenceservice-v1beta1.json`), creates it, waits for
it to be Ready and predicts through its `status.url` (tested against the API server fake
only); `service.py` uses it when the job runner is `kubernetes` (docs/jobs-cluster.md;
tests/api/test_servings_cluster.py).

The model server runs as the member who started the serving: the pod's service account
is the project's, and the version's directory is read from the project's datasets volume
(`pvc://<claim>/Models/<dir>`), read-only, so the files are read with the project's
identity, not the platform's. Its requests equal its limits, `instances` replicas fixed
(no autoscaling beyond what the quota holds), GPUs as whole `nvidia.com/gpu` limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hops_platform.quantity import parse_quantity
from hopsworks_api.backends.kubernetes.base import GPU_RESOURCE, KubeQuota, namespace_for
from hopsworks_api.errors import PayloadTooLarge

Obj = dict[str, Any]

API_VERSION = "serving.kserve.io/v1beta1"
COMPONENT = "serving"


@dataclass(frozen=True)
class ClusterServing:
    project: str
    username: str
    name: str
    framework: str
    """`sklearn` (KServe's own sklearn runtime) or `python` (the platform's image)."""
    directory: str
    """The version's directory inside `Models`."""
    instances: int
    cores: int
    memory_mb: int
    gpus: int
    datasets_claim: str
    python_image: str = "registry.example.org/hops/model-server:0.21"


def check_within_quota(spec: ClusterServing, quota: KubeQuota) -> None:
    """413 when the serving alone (every replica) asks for more than the namespace holds."""
    hard = quota.hard()
    asked = {
        "requests.cpu": parse_quantity(str(spec.cores)) * spec.instances,
        "requests.memory": parse_quantity(f"{spec.memory_mb}Mi") * spec.instances,
    }
    gpu_key = f"requests.{GPU_RESOURCE}"
    if gpu_key in hard:
        asked[gpu_key] = spec.gpus * spec.instances
    for key, amount in asked.items():
        if amount > parse_quantity(hard[key]):
            raise PayloadTooLarge(
                f"serving '{spec.name}' asks for {amount} {key.removeprefix('requests.')} in "
                f"all, more than the project's Kubernetes quota of {hard[key]}",
                code="kubernetes_quota_exceeded",
            )


def inference_service(spec: ClusterServing, quota: KubeQuota) -> Obj:
    check_within_quota(spec, quota)
    amounts: dict[str, str] = {"cpu": str(spec.cores), "memory": f"{spec.memory_mb}Mi"}
    limits = dict(amounts)
    if spec.gpus:
        limits[GPU_RESOURCE] = str(spec.gpus)
    resources = {"requests": dict(amounts), "limits": limits}
    storage = f"pvc://{spec.datasets_claim}/Models/{spec.directory}"
    security = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    predictor: Obj = {
        "minReplicas": spec.instances,
        "maxReplicas": spec.instances,
        "serviceAccountName": "default",  # the namespace's own: the project's identity
    }
    if spec.framework == "sklearn":
        predictor["model"] = {
            "modelFormat": {"name": "sklearn"},
            "storageUri": storage,
            "resources": resources,
            "securityContext": security,
        }
    else:
        predictor["containers"] = [
            {
                "name": "kserve-container",
                "image": spec.python_image,
                "args": [f"--model_name={spec.name}", "--model_dir=/mnt/models"],
                "env": [{"name": "STORAGE_URI", "value": storage}],
                "resources": resources,
                "securityContext": security,
            }
        ]
    namespace = namespace_for(spec.project)
    return {
        "apiVersion": API_VERSION,
        "kind": "InferenceService",
        "metadata": {
            "name": spec.name,
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/managed-by": "hopsworks-api",
                "hops.io/project": namespace,
                "hops.io/component": COMPONENT,
            },
            "annotations": {
                "hops.io/project-user": f"{spec.project}__{spec.username}",
                "serving.kserve.io/deploymentMode": "Standard",
            },
        },
        "spec": {"predictor": predictor},
    }
