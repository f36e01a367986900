"""The browser's session cookie: set with the right attributes, accepted as a credential,
ended with the account's tokens, and refused to requests that another site made."""

from __future__ import annotations

from http.cookies import SimpleCookie

import pytest
from sqlalchemy import text
from starlette.testclient import WebSocketDenialResponse

from hopsworks_api.users.session import REFRESH_COOKIE, SESSION_COOKIE
from tests.support.api import PASSWORD, Api

ORIGIN = "http://testserver"  # the TestClient's own origin
SAME = {"Origin": ORIGIN}
PROXY_WS = "/api/projects/demo/jupyter/proxy/api/kernels/k/channels"


def sign_in(api: Api, name: str, *, url: str = "/api/auth/session") -> dict[str, SimpleCookie]:
    """The cookies a browser signing `name` in receives, by name. The test client's own
    jar is emptied: each request below says exactly which cookies it carries."""
    reply = api.client.post(
        url, json={"email": api.email(name), "password": PASSWORD}, headers=SAME
    )
    assert reply.status_code == 200, reply.text
    api.client.cookies.clear()
    return parse(reply.headers.get_list("set-cookie"))


def parse(headers: list[str]) -> dict[str, SimpleCookie]:
    cookies = {}
    for header in headers:
        jar = SimpleCookie()
        jar.load(header)
        cookies.update({name: jar for name in jar})
    return cookies


def cookie(cookies: dict[str, SimpleCookie], *names: str) -> dict[str, str]:
    names = names or (SESSION_COOKIE,)
    return {"Cookie": "; ".join(f"{n}={cookies[n][n].value}" for n in names)}


def test_a_session_is_httponly_strict_cookies_that_authenticate(api: Api):
    cookies = sign_in(api, "scientist")
    access, refresh = (
        cookies[SESSION_COOKIE][SESSION_COOKIE],
        cookies[REFRESH_COOKIE][REFRESH_COOKIE],
    )
    for morsel in (access, refresh):
        assert morsel["httponly"] is True
        assert morsel["secure"] is True  # plain http, but not to a loopback address
        assert morsel["samesite"].lower() == "strict"
    assert access["path"] == "/"
    assert int(access["max-age"]) == 900
    assert refresh["path"] == "/api/auth/session"  # no other route ever sees it
    me = api.client.get("/api/users/me", headers=cookie(cookies))
    assert me.status_code == 200, me.text
    assert me.json()["email"] == api.email("scientist")

    reply = api.client.post(
        "http://127.0.0.1/api/auth/session",
        json={"email": api.email("scientist"), "password": PASSWORD},
        headers={"Origin": "http://127.0.0.1"},
    )
    api.client.cookies.clear()
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["user"]["email"] == api.email("scientist")
    assert "access_token" not in reply.text  # only in the HttpOnly cookie
    loopback = parse(reply.headers.get_list("set-cookie"))[SESSION_COOKIE][SESSION_COOKIE]
    assert loopback["secure"] == ""  # plain http on loopback: a browser would drop Secure


def test_sign_out_ends_the_session_and_the_accounts_tokens(api: Api, app):
    cookies = sign_in(api, "scientist")
    reply = api.client.delete("/api/auth/session", headers={**cookie(cookies), **SAME})
    assert reply.status_code == 204, reply.text
    cleared = parse(reply.headers.get_list("set-cookie"))
    assert int(cleared[SESSION_COOKIE][SESSION_COOKIE]["max-age"]) == 0
    assert int(cleared[REFRESH_COOKIE][REFRESH_COOKIE]["max-age"]) == 0
    after = api.client.get("/api/users/me", headers=cookie(cookies))
    assert after.status_code == 401
    assert after.json()["error"]["code"] == "token_revoked"
    assert api.call("scientist", "GET", "/api/users/me").status_code == 401  # as /logout
    renew = api.client.post(
        "/api/auth/session/refresh", headers={**cookie(cookies, REFRESH_COOKIE), **SAME}
    )
    assert renew.status_code == 401
    # without a session it only clears the cookies
    assert api.client.delete("/api/auth/session").status_code == 204
    with app.state.runtime.engine.connect() as conn:  # audited like logins
        rows = conn.execute(
            text(
                "SELECT actor, action, outcome FROM audit_log "
                "WHERE action LIKE 'session.%' ORDER BY id"
            )
        ).all()
    who = api.email("scientist")
    assert [tuple(r) for r in rows[:2]] == [
        (who, "session.create", "ok"),
        (who, "session.delete", "ok"),
    ]


def test_password_change_and_account_deletion_end_the_session(api: Api):
    cookies = sign_in(api, "scientist")
    changed = api.call(
        "scientist",
        "POST",
        "/api/auth/password",
        json={"current_password": PASSWORD, "new_password": "another long password"},
    )
    assert changed.status_code == 200, changed.text
    assert api.client.get("/api/users/me", headers=cookie(cookies)).status_code == 401

    cookies = sign_in(api, "outsider")
    assert api.client.get("/api/users/me", headers=cookie(cookies)).status_code == 200
    gone = api.call("admin", "DELETE", f"/api/users/{api.email('outsider')}")
    assert gone.status_code == 204, gone.text
    after = api.client.get("/api/users/me", headers=cookie(cookies))
    assert after.status_code == 401
    assert after.json()["error"]["code"] == "invalid_token"


def test_the_refresh_cookie_renews_the_session_once(api: Api):
    cookies = sign_in(api, "scientist")
    headers = {**cookie(cookies, REFRESH_COOKIE), **SAME}
    renewed = api.client.post("/api/auth/session/refresh", headers=headers)
    assert renewed.status_code == 200, renewed.text
    api.client.cookies.clear()
    fresh = parse(renewed.headers.get_list("set-cookie"))
    assert api.client.get("/api/users/me", headers=cookie(fresh)).status_code == 200
    again = api.client.post("/api/auth/session/refresh", headers=headers)
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "refresh_token_reused"


@pytest.mark.parametrize(
    "where",
    [
        {"Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": ORIGIN},
        {},  # a request that says nothing of where it comes from
    ],
)
def test_a_change_another_site_makes_the_browser_send_is_403(api: Api, where: dict[str, str]):
    cookies = sign_in(api, "owner")
    reply = api.client.post(
        "/api/projects", json={"name": "csrf"}, headers={**cookie(cookies), **where}
    )
    assert reply.status_code == 403, reply.text
    assert reply.json()["error"]["code"] == "csrf_refused"
    assert api.call("owner", "GET", "/api/projects/csrf").status_code == 404
    # the same change from the service's own pages goes through; reads need no proof
    same = {**cookie(cookies), "Origin": ORIGIN, "Sec-Fetch-Site": "same-origin"}
    assert api.client.post("/api/projects", json={"name": "csrf"}, headers=same).status_code == 201
    assert api.client.get("/api/projects/csrf", headers=cookie(cookies)).status_code == 200
    # an explicit credential is not the browser's ambient one: no origin proof needed
    explicit = {**cookie(cookies), **api.headers("owner"), **where}
    assert api.client.get("/api/users/me", headers=explicit).status_code == 200


def test_another_site_cannot_sign_the_browser_in_nor_open_a_websocket(api: Api):
    reply = api.client.post(
        "/api/auth/session",
        json={"email": api.email("owner"), "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    assert reply.status_code == 403
    assert reply.json()["error"]["code"] == "csrf_refused"
    cookies = sign_in(api, "scientist")
    refused = denial(api, {**cookie(cookies), "Origin": "https://evil.example"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_refused"
    past = denial(api, {**cookie(cookies), "Origin": ORIGIN})  # no server runs: 4xx, not CSRF
    assert 400 <= past.status_code < 500
    assert past.json()["error"]["code"] != "csrf_refused"


def denial(api: Api, headers: dict[str, str]) -> WebSocketDenialResponse:
    """The answer to a websocket handshake on the Jupyter proxy that was refused."""
    with (
        pytest.raises(WebSocketDenialResponse) as denied,
        api.client.websocket_connect(PROXY_WS, headers=headers),
    ):
        pass
    return denied.value


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"email": "not-an-email", "password": "x"}, 422, "validation_error"),
        ({"email": "scientist@example.org"}, 422, "validation_error"),
        ({"email": "scientist@example.org", "password": "wrong password"}, 401, None),
        ({"email": "nobody@example.org", "password": PASSWORD}, 401, "invalid_credentials"),
    ],
)
def test_bad_sign_ins_are_4xx_and_set_no_cookie(api: Api, body: dict, status: int, code):
    reply = api.client.post("/api/auth/session", json=body)
    assert reply.status_code == status, reply.text
    assert reply.json()["error"]["code"] == (code or "invalid_credentials")
    assert "set-cookie" not in reply.headers
    no_cookie = api.client.post("/api/auth/session/refresh", headers=SAME)
    assert no_cookie.status_code == 401


def test_failed_session_sign_ins_are_throttled_like_logins(api: Api):
    wrong = {"email": api.email("scientist"), "password": "wrong password"}
    statuses = [api.client.post("/api/auth/session", json=wrong).status_code for _ in range(8)]
    assert statuses[0] == 401
    assert 429 in statuses  # the account's back-off started
    # the same account's /api/auth/login is in the same back-off
    login = api.client.post("/api/auth/login", json={**wrong, "password": PASSWORD})
    assert login.status_code == 429
