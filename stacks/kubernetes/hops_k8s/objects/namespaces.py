"""The namespaces: the platform's own, and those the operators and Spark jobs use.

Pod Security admission: the platform namespace enforces `restricted` (every pod the stack
runs there complies); the operators' and jobs' namespaces enforce `baseline` and warn at
`restricted` (their pods come from upstream charts and users). The NVIDIA device plugin runs
in kube-system, as NVIDIA's own manifest does: it needs a hostPath volume and root.
"""

from __future__ import annotations

from hops_k8s import meta
from hops_k8s.config import StackConfig
from hops_k8s.objects import Manifest

PSS = "pod-security.kubernetes.io"


def _namespace(name: str, role: str, enforce: str) -> Manifest:
    pss = {f"{PSS}/enforce": enforce, f"{PSS}/warn": "restricted", f"{PSS}/audit": "restricted"}
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": meta.metadata(
            name, app=name, component="namespace", extra_labels={meta.LABEL_ROLE: role, **pss}
        ),
    }


def namespaces(cfg: StackConfig) -> list[Manifest]:
    out = [
        _namespace(cfg.namespace, "platform", "restricted"),
        _namespace(cfg.spark_operator_namespace, "operator", "baseline"),
        _namespace(cfg.spark_job_namespace, "spark-jobs", "baseline"),
    ]
    if cfg.kserve_enabled:
        out.append(_namespace(cfg.kserve_namespace, "operator", "baseline"))
        if cfg.kserve_smoke_test:
            out.append(_namespace(cfg.smoke_namespace, "smoke-test", "baseline"))
    return out
