"""The compute backend: one scheduler queue per project (`EmbeddedCompute` in `embedded`,
`YarnCompute` in `yarn`); the package exports the contract only."""

from hopsworks_api.backends.compute.base import AppUsage, ComputeBackend, ComputeQuota, QueueInfo

__all__ = ["AppUsage", "ComputeBackend", "ComputeQuota", "QueueInfo"]
