"""The Hive backend: one database per project, its members' grants, its size for quotas.

`LocalHive` is the embedded default (no server: directories plus a JSON catalog);
`HiveServer2Hive` talks to HiveServer2 (or Spark Thrift Server) through PyHive. Both
follow `HiveBackend`; the naming and grant rules live in `base`.
"""

from hopsworks_api.backends.hive.base import (
    GrantResult,
    HiveBackend,
    HiveDatabase,
    member_plan,
    principal,
    share_plans,
)
from hopsworks_api.backends.hive.local import LocalHive

__all__ = [
    "GrantResult",
    "HiveBackend",
    "HiveDatabase",
    "LocalHive",
    "member_plan",
    "principal",
    "share_plans",
]
