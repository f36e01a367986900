"""The Hive backend: one database per project, its members' grants, its size for quotas.

`EmbeddedHive` (`embedded`) is the default (no server: directories plus a JSON catalog);
`HiveServer2Hive` (`hiveserver2`) talks to HiveServer2 (or Spark Thrift Server) through
PyHive. Both follow `HiveBackend`; the naming and grant rules live in `base`, and the
package exports the contract only.
"""

from hopsworks_api.backends.hive.base import (
    GrantResult,
    HiveBackend,
    HiveDatabase,
    member_plan,
    principal,
    share_plans,
)

__all__ = [
    "GrantResult",
    "HiveBackend",
    "HiveDatabase",
    "member_plan",
    "principal",
    "share_plans",
]
