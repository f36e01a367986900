"""The storage backend: where datasets' bytes live (`EmbeddedStorage` in `embedded`: the
local file system; `WebHdfsStorage` in `webhdfs`: HDFS); the package exports the contract
only."""

from hopsworks_api.backends.storage.base import (
    EntryInfo,
    PendingWrite,
    StorageBackend,
    validate_relative_path,
)

__all__ = ["EntryInfo", "PendingWrite", "StorageBackend", "validate_relative_path"]
