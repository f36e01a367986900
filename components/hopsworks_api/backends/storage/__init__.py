"""The storage backend: where datasets' bytes live (local FS now; HDFS later)."""

from hopsworks_api.backends.storage.base import (
    EntryInfo,
    PendingWrite,
    StorageBackend,
    validate_relative_path,
)
from hopsworks_api.backends.storage.local import LocalStorage

__all__ = ["EntryInfo", "LocalStorage", "PendingWrite", "StorageBackend", "validate_relative_path"]
