"""The options every server of this app is started with: `hops serve` and the test servers
take them from here, so a test exercises the connection handling users get."""

from __future__ import annotations

from typing import Any

from hopsworks_api.runtime import Runtime
from hopsworks_api.tls import uvicorn_tls_options


def uvicorn_options(rt: Runtime, *, tls: bool) -> dict[str, Any]:
    """Keep-alive longer than clients leave a pooled connection idle: with uvicorn's 5 s
    default, the SDK's next call after a 5 s wait (a deployment starting, a model
    registering) raced the server closing that connection and failed with
    `RemoteDisconnected`, since `requests` does not retry a request it already sent."""
    options: dict[str, Any] = {"timeout_keep_alive": rt.settings.keep_alive_seconds}
    if tls:
        options |= uvicorn_tls_options(rt)
    return options
