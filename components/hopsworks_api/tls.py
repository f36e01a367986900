"""Serving over TLS with client certificates (`hops serve --tls`).

Uvicorn does not put the peer certificate into the ASGI scope, so a thin subclass of its
h11 protocol adds the standard ASGI TLS extension (`scope["extensions"]["tls"]`, with
`client_cert_chain`) for each connection; the app reads only that standard key, so any
ASGI server that implements the extension works the same.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from hopsworks_api.pki import service as pki_service
from hopsworks_api.pki.keys import write_private, write_public
from hopsworks_api.runtime import Runtime

RENEW_BEFORE = timedelta(days=7)


class _WithTlsExtension:
    def __init__(self, app: ASGIApp, info: dict[str, Any]) -> None:
        self.app = app
        self.info = info

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = {**scope, "extensions": {**(scope.get("extensions") or {}), "tls": self.info}}
        await self.app(scope, receive, send)


class TlsH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object: ssl.SSLObject | None = transport.get_extra_info("ssl_object")
        if ssl_object is None:
            return
        der = ssl_object.getpeercert(binary_form=True)
        cipher = ssl_object.cipher()
        info = {
            "server_cert": None,
            "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
            "client_cert_name": None,
            "client_cert_error": None,
            "tls_version": ssl_object.version(),
            "cipher_suite": cipher[0] if cipher else None,
        }
        self.app = _WithTlsExtension(self.app, info)


def service_certificate(rt: Runtime) -> tuple[Path, Path, Path]:
    """The service's own certificate from the platform CA, renewed when close to expiry.

    Returns (certificate + chain, key 0600, CA bundle that client chains are verified
    against)."""
    directory = rt.settings.data_dir / "tls"
    cert_path, key_path, ca_path = (directory / n for n in ("cert.pem", "key.pem", "ca.pem"))
    if not _still_good(cert_path):
        host = rt.settings.host
        names, ips = list(rt.settings.tls_hostnames), ["127.0.0.1"]
        try:
            ips.append(str(ipaddress.ip_address(host)))
        except ValueError:
            names.insert(0, host)
        key_pem, bundle = pki_service.host_key_and_certificate(
            rt, hostname=names[0], ips=sorted(set(ips)), extra_names=names[1:]
        )
        write_private(key_path, key_pem)
        write_public(cert_path, (bundle.certificate + bundle.ca_chain).encode())
    write_public(ca_path, rt.ca.chain_pem())
    return cert_path, key_path, ca_path


def _still_good(cert_path: Path) -> bool:
    if not cert_path.exists():
        return False
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return cert.not_valid_after_utc - datetime.now(UTC) > RENEW_BEFORE


def uvicorn_tls_options(rt: Runtime) -> dict[str, Any]:
    cert_path, key_path, ca_path = service_certificate(rt)
    return {
        "ssl_certfile": str(cert_path),
        "ssl_keyfile": str(key_path),
        "ssl_ca_certs": str(ca_path),
        "ssl_cert_reqs": ssl.CERT_OPTIONAL,
        "http": TlsH11Protocol,
    }
