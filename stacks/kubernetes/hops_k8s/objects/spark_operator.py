"""The Kubeflow Spark operator, from its Helm chart at a pinned version.

The chart installs the SparkApplication CRDs, the controller and its admission webhook
(which generates its own certificate), and in the job namespace the `hops-spark` service
account and RBAC that driver pods use to create executors. This stack creates no
SparkApplication: jobs come from the control service and users.
"""

from __future__ import annotations

from hops_k8s import meta
from hops_k8s.config import StackConfig
from hops_k8s.objects.helm import HelmRelease

REPOSITORY = "https://kubeflow.github.io/spark-operator"
CHART = "spark-operator"
SPARK_SERVICE_ACCOUNT = "hops-spark"


def release(cfg: StackConfig) -> HelmRelease:
    resources = cfg.resources["sparkOperator"].manifest()
    security = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    return HelmRelease(
        name="spark-operator",
        namespace=cfg.spark_operator_namespace,
        chart=CHART,
        version=cfg.spark_operator_version,
        repository=REPOSITORY,
        values={
            "commonLabels": {meta.LABEL_PART_OF: meta.PART_OF},
            "controller": {"resources": resources, "securityContext": security},
            "webhook": {"enable": True, "resources": resources, "securityContext": security},
            "spark": {
                "jobNamespaces": [cfg.spark_job_namespace],
                "serviceAccount": {"create": True, "name": SPARK_SERVICE_ACCOUNT},
                "rbac": {"create": True},
            },
        },
    )
