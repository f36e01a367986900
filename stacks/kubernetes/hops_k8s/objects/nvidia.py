"""The NVIDIA device plugin: a DaemonSet on GPU nodes only, advertising `nvidia.com/gpu`.

As NVIDIA's static manifest (deployments/static/nvidia-device-plugin.yml): kube-system,
priority class system-node-critical, the kubelet's device-plugin directory as a hostPath.
It must run as root to create its socket in that root-owned directory, which is why it is
the one workload exempt from the runAsNonRoot policy; it still drops every capability and
cannot escalate. GPU nodes are usually tainted `nvidia.com/gpu=present:NoSchedule` so that
only pods asking for GPUs land there: the plugin tolerates that taint (any value).
"""

from __future__ import annotations

from hops_k8s import meta
from hops_k8s.config import StackConfig
from hops_k8s.objects import Manifest

DEVICE_PLUGIN_DIR = "/var/lib/kubelet/device-plugins"


def gpu_toleration() -> dict:
    return {"key": meta.GPU_TAINT_KEY, "operator": "Exists", "effect": meta.GPU_TAINT_EFFECT}


def daemon_set(cfg: StackConfig) -> Manifest:
    name = meta.NVIDIA_DEVICE_PLUGIN
    match = [
        {"key": key, "operator": "In", "values": [value]}
        for key, value in sorted(cfg.gpu_node_selector.items())
    ]
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": meta.metadata(name, meta.NVIDIA_NAMESPACE, component="gpu"),
        "spec": {
            "selector": {"matchLabels": meta.selector(name)},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": meta.labels(name, "gpu")},
                "spec": {
                    "priorityClassName": "system-node-critical",
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "nodeSelector": dict(cfg.gpu_node_selector),
                    "affinity": {
                        "nodeAffinity": {
                            "requiredDuringSchedulingIgnoredDuringExecution": {
                                "nodeSelectorTerms": [{"matchExpressions": match}]
                            }
                        }
                    },
                    "tolerations": [
                        gpu_toleration(),
                        {"key": "CriticalAddonsOnly", "operator": "Exists"},
                    ],
                    "containers": [
                        {
                            "name": "nvidia-device-plugin",
                            "image": cfg.nvidia_device_plugin_image,
                            "env": [{"name": "FAIL_ON_INIT_ERROR", "value": "false"}],
                            "resources": cfg.resources["nvidiaDevicePlugin"].manifest(),
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "volumeMounts": [
                                {"name": "device-plugin", "mountPath": DEVICE_PLUGIN_DIR}
                            ],
                        }
                    ],
                    "volumes": [
                        {
                            "name": "device-plugin",
                            "hostPath": {"path": DEVICE_PLUGIN_DIR, "type": "Directory"},
                        }
                    ],
                },
            },
        },
    }


def objects(cfg: StackConfig) -> list[Manifest]:
    return [daemon_set(cfg)] if cfg.gpu_enabled else []
