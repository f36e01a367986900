"""The compute backend: one scheduler queue per project (embedded record | YARN)."""

from hopsworks_api.backends.compute.base import ComputeBackend, ComputeQuota, QueueInfo
from hopsworks_api.backends.compute.local import LocalCompute
from hopsworks_api.backends.compute.yarn import YarnCompute

__all__ = ["ComputeBackend", "ComputeQuota", "LocalCompute", "QueueInfo", "YarnCompute"]
