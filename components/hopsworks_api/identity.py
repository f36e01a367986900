"""Who a tenant is in every system: project names, the two project roles and the
`<project>__<user>` name.

A leaf module: backends, pki and policy all import it, and it imports nothing of the
service, so an adapter naming a principal never pulls in the authorisation policy."""

from __future__ import annotations

import re
from enum import StrEnum

PROJECT_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{2,62}$")


def check_project_name(value: str) -> str:
    """Project names become HDFS paths, Hive DBs and `<project>__<user>` principals."""
    if not PROJECT_NAME_RE.fullmatch(value):
        raise ValueError(
            "project names are 3-63 characters: a lowercase letter, then lowercase "
            "letters, digits or '_'"
        )
    if "__" in value:
        raise ValueError("project names may not contain '__' (it separates project and user)")
    return value


class Role(StrEnum):
    DATA_OWNER = "data_owner"
    DATA_SCIENTIST = "data_scientist"


def project_user(project: str, username: str) -> str:
    """The tenant identity `<project>__<user>` (CN, HDFS user, Kafka principal)."""
    return f"{project}__{username}"
