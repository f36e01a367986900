"""Who a tenant is in every system: the two project roles and the `<project>__<user>` name.

A leaf module: backends, pki and policy all import it, and it imports nothing of the
service, so an adapter naming a principal never pulls in the authorisation policy."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    DATA_OWNER = "data_owner"
    DATA_SCIENTIST = "data_scientist"


def project_user(project: str, username: str) -> str:
    """The tenant identity `<project>__<user>` (CN, HDFS user, Kafka principal)."""
    return f"{project}__{username}"
