"""KServe from its OCI Helm charts (the order KServe's own installer uses): the CRDs, then
the controller (`kserve-resources`, default deployment mode Standard: plain Deployments, no
Knative or Istio needed), then the ClusterServingRuntimes (`kserve-runtime-configs`).

KServe's webhooks take their certificates from cert-manager, which must already run on the
cluster. The optional smoke test is KServe's sklearn-iris example, an InferenceService that
is validated against the CRD's schema (schemas/inferenceservice-v1beta1.json) like every
other object of the stack.
"""

from __future__ import annotations

from hops_k8s import meta
from hops_k8s.config import StackConfig
from hops_k8s.objects import Manifest
from hops_k8s.objects.helm import HelmRelease

CHARTS = "oci://ghcr.io/kserve/charts"
API_VERSION = "serving.kserve.io/v1beta1"
SMOKE_TEST_NAME = "sklearn-iris"


def releases(cfg: StackConfig) -> list[HelmRelease]:
    crd = HelmRelease(
        name="kserve-crd",
        namespace=cfg.kserve_namespace,
        chart=f"{CHARTS}/kserve-crd",
        version=cfg.kserve_version,
    )
    controller = HelmRelease(
        name="kserve-resources",
        namespace=cfg.kserve_namespace,
        chart=f"{CHARTS}/kserve-resources",
        version=cfg.kserve_version,
        values={"kserve": {"controller": {"deploymentMode": cfg.kserve_deployment_mode}}},
        depends_on=(crd.name,),
    )
    runtimes = HelmRelease(
        name="kserve-runtime-configs",
        namespace=cfg.kserve_namespace,
        chart=f"{CHARTS}/kserve-runtime-configs",
        version=cfg.kserve_version,
        depends_on=(controller.name,),
    )
    return [crd, controller, runtimes]


def inference_service(
    name: str,
    namespace: str,
    *,
    model_format: str,
    storage_uri: str,
    resources: dict,
) -> Manifest:
    """An InferenceService serving one model with a runtime KServe picks by format."""
    return {
        "apiVersion": API_VERSION,
        "kind": "InferenceService",
        "metadata": meta.metadata(name, namespace, component="serving"),
        "spec": {
            "predictor": {
                "model": {
                    "modelFormat": {"name": model_format},
                    "storageUri": storage_uri,
                    "resources": resources,
                }
            }
        },
    }


def smoke_test(cfg: StackConfig) -> Manifest:
    return inference_service(
        SMOKE_TEST_NAME,
        cfg.smoke_namespace,
        model_format="sklearn",
        storage_uri="gs://kfserving-examples/models/sklearn/1.0/model",
        resources={
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "1Gi"},
        },
    )
