"""HTTP plumbing shared by the cluster backends (YARN ResourceManager, Kubernetes API).

One rule for every wire call: it is bounded in time and a failure of the *system* (no
answer, a timeout, a 5xx, throttling, credentials the system refuses) becomes
`BackendUnavailable(system, ...)`, which the API answers with 503 naming the system. The
caller then maps the remaining 4xx answers, which are about the request, to domain errors.

Timeouts: httpx applies `connect` to establishing the connection and `timeout` to each
read/write, so a dead endpoint fails within `connect_timeout` and a hung one within
`timeout`. There are no automatic retries here: every operation is idempotent, and the
saga or the reconciler decides when to try again.
"""

from __future__ import annotations

import ssl
from typing import Any

import httpx

from hopsworks_api.backends.errors import BackendUnavailable


def ssl_context(
    verify: bool = True, ca_file: str | None = None, client_cert: tuple[str, str] | None = None
) -> ssl.SSLContext | bool:
    """TLS settings: verify against `ca_file` (the platform CA) or the system store, and
    present `client_cert` = (certificate, key) files when the server wants mutual TLS."""
    if not verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context = ssl.create_default_context(cafile=ca_file)
    if client_cert is not None:
        context.load_cert_chain(certfile=client_cert[0], keyfile=client_cert[1])
    return context


def make_client(
    base_url: str,
    *,
    timeout: float,
    connect_timeout: float,
    verify: bool = True,
    ca_file: str | None = None,
    client_cert: tuple[str, str] | None = None,
    auth: httpx.Auth | None = None,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> httpx.Client:
    return httpx.Client(
        base_url=base_url.rstrip("/"),
        timeout=httpx.Timeout(timeout, connect=connect_timeout, pool=connect_timeout),
        verify=ssl_context(verify, ca_file, client_cert),
        auth=auth,
        headers=headers,
        params=params,
        follow_redirects=True,  # a standby YARN RM redirects to the active one
        trust_env=False,  # never route platform traffic through an ambient proxy
    )


def send(client: httpx.Client, system: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One bounded request; system failures become `BackendUnavailable`."""
    try:
        response = client.request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        raise BackendUnavailable(
            system, f"{method} {url} timed out ({type(exc).__name__})"
        ) from exc
    except httpx.TransportError as exc:
        raise BackendUnavailable(
            system, f"{method} {url} failed: {exc or type(exc).__name__}"
        ) from exc
    if response.status_code >= 500:
        raise BackendUnavailable(
            system, f"{method} {url} answered {response.status_code}: {_snippet(response)}"
        )
    if response.status_code == 429:
        raise BackendUnavailable(system, f"{method} {url} is throttled (429); try again later")
    if response.status_code in (401, 407):
        raise BackendUnavailable(
            system, f"{method} {url} refused the platform's credentials ({response.status_code})"
        )
    return response


def _snippet(response: httpx.Response, limit: int = 300) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:limit] + ("..." if len(text) > limit else "")


def snippet(response: httpx.Response) -> str:
    return _snippet(response)
