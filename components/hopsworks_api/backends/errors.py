"""How a backend reports that its system failed: the API answers 503 naming the system."""

from __future__ import annotations

from hopsworks_api.errors import Unavailable


class BackendUnavailable(Unavailable):
    """The external system did not answer in time or refused the call.

    `system` is the short name users see ("hdfs", "hive", "kafka", "yarn", "kubernetes").
    """

    code = "backend_unavailable"

    def __init__(self, system: str, message: str) -> None:
        super().__init__(f"{system}: {message}")
        self.system = system
