"""The browser's session: the account's own access and refresh tokens carried in cookies.

A browser cannot keep a bearer token away from page scripts; an HttpOnly cookie it can.
The cookie holds an ordinary access token (the one `/api/auth/login` returns), so
everything that ends tokens (logout, password change, account deletion or an account
that is no longer active) ends the session on its very next request, with no second
revocation mechanism to keep in step. The refresh token rides in a second cookie that
only the session routes ever receive (its `Path`).

Cookies are sent by the browser on its own, also when another site makes it send a
request, so a request authenticated by the cookie alone must prove it comes from a page
of this origin when it changes anything (`require_same_origin`); SameSite=Strict is the
first line, this check the second, for browsers or set-ups where SameSite falls short.
"""

from __future__ import annotations

import ipaddress

from starlette.requests import HTTPConnection
from starlette.responses import Response

from hopsworks_api.errors import Forbidden
from hopsworks_api.users.models import Token

SESSION_COOKIE = "hops_session"
REFRESH_COOKIE = "hops_session_refresh"
REFRESH_PATH = "/api/auth/session"  # only the session routes ever see the refresh token
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _is_loopback(host: str | None) -> bool:
    if host in (None, ""):
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def cookie_secure(conn: HTTPConnection) -> bool:
    """`Secure` always, but on plain http to a loopback address (`hops serve` on a
    laptop): there the cookie never crosses a network. Plain http to any other address
    still gets `Secure`, so a browser keeps no session over an unencrypted network."""
    return conn.url.scheme in ("https", "wss") or not _is_loopback(conn.url.hostname)


def _set(
    response: Response, conn: HTTPConnection, name: str, value: str, **options: object
) -> None:
    response.set_cookie(
        name,
        value,
        httponly=True,
        secure=cookie_secure(conn),
        samesite="strict",
        **options,  # type: ignore[arg-type]
    )


def set_session(response: Response, conn: HTTPConnection, token: Token) -> None:
    """Both cookies live exactly as long as the tokens they carry."""
    _set(response, conn, SESSION_COOKIE, token.access_token, max_age=token.expires_in, path="/")
    _set(
        response,
        conn,
        REFRESH_COOKIE,
        token.refresh_token,
        max_age=token.refresh_expires_in,
        path=REFRESH_PATH,
    )


def clear_session(response: Response, conn: HTTPConnection) -> None:
    for name, path in ((SESSION_COOKIE, "/"), (REFRESH_COOKIE, REFRESH_PATH)):
        response.delete_cookie(
            name, path=path, secure=cookie_secure(conn), httponly=True, samesite="strict"
        )


def access_token(conn: HTTPConnection) -> str | None:
    return conn.cookies.get(SESSION_COOKIE) or None


def refresh_token(conn: HTTPConnection) -> str | None:
    return conn.cookies.get(REFRESH_COOKIE) or None


def own_origin(conn: HTTPConnection) -> str:
    """This service's origin as the browser sees it (scheme and Host of the request;
    behind a TLS-terminating proxy, uvicorn's proxy headers make the scheme right)."""
    scheme = {"ws": "http", "wss": "https"}.get(conn.url.scheme, conn.url.scheme)
    return f"{scheme}://{conn.headers.get('host', '')}".lower()


def require_same_origin(conn: HTTPConnection, *, required: bool = True) -> None:
    """Refuse a request that a page of another origin made the browser send.

    `Sec-Fetch-Site` must say `same-origin` when the browser sends it, and `Origin` must
    be this service's own when sent (every browser sends it on a POST, PUT, PATCH, DELETE
    and on a websocket handshake). With `required`, a request carrying neither is refused
    too: only browsers send the cookie, and every current browser sends one of them."""
    site = conn.headers.get("sec-fetch-site")
    origin = conn.headers.get("origin")
    if site is not None and site.lower() != "same-origin":
        raise Forbidden(
            f"a cross-site request ({site}) may not use the session cookie",
            code="csrf_refused",
        )
    if origin is not None and origin.lower() != own_origin(conn):
        raise Forbidden(
            f"a request from origin '{origin}' may not use the session cookie",
            code="csrf_refused",
        )
    if required and site is None and origin is None:
        raise Forbidden(
            "a request authenticated by the session cookie must say where it comes from "
            "(Origin or Sec-Fetch-Site)",
            code="csrf_refused",
        )


def guard_cookie_request(conn: HTTPConnection) -> None:
    """The check for a request authenticated by the cookie: websocket handshakes always
    (a GET that opens a channel able to change anything), other requests when they are
    not safe methods."""
    if conn.scope["type"] == "websocket" or conn.scope.get("method") not in SAFE_METHODS:
        require_same_origin(conn)
