"""Identity lifecycle: nothing a deleted account held acts for the next account with its
email; sessions (password change, logout, refresh rotation and reuse); the last admin;
agent keys without hosts."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update

from hopsworks_api.clock import ManualClock
from hopsworks_api.users import service as user_service
from hopsworks_api.users.models import ApiKey, UserCreate
from tests.api.test_mtls import client as tls_client
from tests.api.test_mtls import credentials, write_identity
from tests.support.api import PASSWORD, Api

NEW_PASSWORD = "another horse battery"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def me(api: Api, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    return api.client.get("/api/users/me", headers=headers)


def error_code(reply) -> str:  # type: ignore[no-untyped-def]
    return reply.json()["error"]["code"]


# -- 1. identity reuse -------------------------------------------------------------------------
def test_nothing_of_a_deleted_account_acts_for_the_next_one_with_its_email(
    api: Api, app, tls_server, tmp_path: Path
):
    """Token, API key and certificate of the deleted scientist are refused (401) once the
    same email is registered again (same username, same project, same role), and the new
    account has another id."""
    old_id = api.call("scientist", "GET", "/api/users/me").json()["id"]
    old_token = api.tokens["scientist"]
    old_refresh = api.refresh_tokens["scientist"]
    key = api.call("scientist", "POST", "/api/auth/api-keys", json={"name": "k"}).json()["key"]
    bundle = credentials(api, "scientist", "demo")
    identity = write_identity(tmp_path, "old", bundle["certificate"], bundle["private_key"])

    assert api.call("admin", "DELETE", "/api/users/scientist@example.org").status_code == 204
    api.register("scientist")
    api.add_member("owner", "demo", "scientist", "data_scientist")
    new = api.call("scientist", "GET", "/api/users/me").json()
    assert new["email"] == "scientist@example.org" and new["username"] == "scientist"
    assert new["id"] > old_id

    assert me(api, bearer(old_token)).status_code == 401
    assert error_code(me(api, bearer(old_token))) == "invalid_token"
    assert me(api, {"X-API-Key": key}).status_code == 401
    reply = api.client.post("/api/auth/refresh", json={"refresh_token": old_refresh})
    assert reply.status_code == 401
    with tls_client(tls_server, tmp_path, app, identity) as c:
        reply = c.get("/api/users/me")
        assert reply.status_code == 401 and error_code(reply) == "certificate_revoked"
        assert c.get("/api/projects/demo").status_code == 401
    # the new account's own credentials work
    assert me(api, api.headers("scientist")).json()["id"] == new["id"]


def test_ids_are_never_reused_after_deleting_the_newest_rows(api: Api):
    """Deleting the newest account (and project, dataset) frees no id for the next one."""
    api.register("temp")
    temp_id = api.call("temp", "GET", "/api/users/me").json()["id"]
    project = api.call("temp", "POST", "/api/projects", json={"name": "tmp_p"}).json()["id"]
    assert api.call("temp", "DELETE", "/api/projects/tmp_p").status_code in (200, 204)
    assert api.call("admin", "DELETE", "/api/users/temp@example.org").status_code == 204
    api.register("temp")
    assert api.call("temp", "GET", "/api/users/me").json()["id"] > temp_id
    again = api.call("temp", "POST", "/api/projects", json={"name": "tmp_p"}).json()["id"]
    assert again > project


def test_tokens_name_a_random_subject_not_the_id(api: Api, settings):
    import jwt

    token = api.tokens["owner"]
    claims = jwt.decode(token, settings.jwt_secret, algorithms=["HS256"])
    user = api.call("owner", "GET", "/api/users/me").json()
    assert claims["sub"] != str(user["id"]) and len(claims["sub"]) == 32
    assert claims["ver"] == 0
    forged = jwt.encode({**claims, "sub": str(user["id"])}, settings.jwt_secret)
    assert me(api, bearer(forged)).status_code == 401


# -- 2. sessions -------------------------------------------------------------------------------
def test_password_change_ends_every_other_token_and_keeps_the_caller_signed_in(api: Api):
    other_session = api.login("owner")
    other_refresh = api.refresh_tokens["owner"]
    this_session = api.login("owner")
    reply = api.client.post(
        "/api/auth/password",
        headers=bearer(this_session),
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert reply.status_code == 200, reply.text
    fresh = reply.json()
    assert me(api, bearer(fresh["access_token"])).status_code == 200
    for token in (other_session, this_session):
        reply = me(api, bearer(token))
        assert reply.status_code == 401 and error_code(reply) == "token_revoked"
    assert (
        api.client.post("/api/auth/refresh", json={"refresh_token": other_refresh}).status_code
        == 401
    )
    assert (
        api.client.post(
            "/api/auth/refresh", json={"refresh_token": fresh["refresh_token"]}
        ).status_code
        == 200
    )
    old = api.client.post(
        "/api/auth/login", json={"email": api.email("owner"), "password": PASSWORD}
    )
    assert old.status_code == 401
    api.login("owner", NEW_PASSWORD)


def test_password_change_needs_the_current_password(api: Api):
    reply = api.call(
        "owner",
        "POST",
        "/api/auth/password",
        json={"current_password": "not the password", "new_password": NEW_PASSWORD},
    )
    assert reply.status_code == 403 and error_code(reply) == "wrong_password"
    assert api.call("owner", "GET", "/api/users/me").status_code == 200  # nothing ended
    short = api.call(
        "owner",
        "POST",
        "/api/auth/password",
        json={"current_password": PASSWORD, "new_password": "short"},
    )
    assert short.status_code == 422


def test_logout_ends_the_accounts_tokens(api: Api):
    other = api.login("owner")
    other_refresh = api.refresh_tokens["owner"]
    current = api.login("owner")
    refresh = api.refresh_tokens["owner"]
    reply = api.client.post(
        "/api/auth/logout", headers=bearer(current), json={"refresh_token": refresh}
    )
    assert reply.status_code == 204
    for token in (current, other):
        assert me(api, bearer(token)).status_code == 401
    for token in (refresh, other_refresh):
        assert (
            api.client.post("/api/auth/refresh", json={"refresh_token": token}).status_code == 401
        )
    assert api.client.post("/api/auth/logout", headers=bearer(current)).status_code == 401
    api.login("owner")
    assert api.call("owner", "POST", "/api/auth/logout").status_code == 204  # no body


def test_refresh_rotates_and_a_reused_refresh_token_revokes_its_family(api: Api):
    first = api.refresh_tokens["owner"]
    reply = api.client.post("/api/auth/refresh", json={"refresh_token": first})
    assert reply.status_code == 200
    second = reply.json()
    assert second["refresh_token"] != first and second["refresh_expires_in"] > 0
    assert me(api, bearer(second["access_token"])).json()["email"] == api.email("owner")

    # `first` was copied: presenting it again revokes the family, `second` included
    reused = api.client.post("/api/auth/refresh", json={"refresh_token": first})
    assert reused.status_code == 401 and error_code(reused) == "refresh_token_reused"
    reply = api.client.post("/api/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert reply.status_code == 401
    # another login's family is not affected
    other = api.login("owner")
    assert me(api, bearer(other)).status_code == 200
    assert (
        api.client.post(
            "/api/auth/refresh", json={"refresh_token": api.refresh_tokens["owner"]}
        ).status_code
        == 200
    )


def test_access_tokens_are_short_lived_and_refresh_tokens_expire(api: Api, app):
    clock = ManualClock()
    app.state.runtime.clock = clock
    token = api.login("owner")
    refresh = api.refresh_tokens["owner"]
    assert app.state.runtime.settings.access_token_ttl_seconds == 900
    clock.advance(899)
    assert me(api, bearer(token)).status_code == 200
    clock.advance(2)
    reply = me(api, bearer(token))
    assert reply.status_code == 401 and error_code(reply) == "token_expired"
    reply = api.client.post("/api/auth/refresh", json={"refresh_token": refresh})
    assert reply.status_code == 200
    later = reply.json()["refresh_token"]
    clock.advance(app.state.runtime.settings.refresh_token_ttl_seconds + 1)
    reply = api.client.post("/api/auth/refresh", json={"refresh_token": later})
    assert reply.status_code == 401 and error_code(reply) == "invalid_refresh_token"


@pytest.mark.parametrize("body", [{"refresh_token": "x" * 64}, {"refresh_token": ""}, {}])
def test_unknown_or_malformed_refresh_tokens_are_4xx(api: Api, body):
    reply = api.client.post("/api/auth/refresh", json=body)
    assert reply.status_code in (401, 422)
    assert reply.json()["error"]["code"] in ("invalid_refresh_token", "validation_error")


# -- 3. keys and admins ------------------------------------------------------------------------
def test_the_last_platform_admin_cannot_be_deleted(api: Api, app):
    reply = api.call("admin", "DELETE", "/api/users/admin@example.org")
    assert reply.status_code == 409 and error_code(reply) == "last_admin"
    user_service.create(
        app.state.runtime,
        data=UserCreate(email="ops@example.org", password=PASSWORD),
        is_admin=True,
    )
    api.login("ops")
    assert api.call("ops", "DELETE", "/api/users/admin@example.org").status_code == 204
    reply = api.call("ops", "DELETE", "/api/users/ops@example.org")
    assert reply.status_code == 409 and error_code(reply) == "last_admin"
    assert api.call("ops", "GET", "/api/users/me").status_code == 200


def test_an_agent_key_needs_at_least_one_host(api: Api):
    reply = api.call(
        "admin", "POST", "/api/auth/api-keys", json={"name": "agent", "agent_hosts": []}
    )
    assert reply.status_code == 422 and error_code(reply) == "validation_error"
    assert api.call("admin", "GET", "/api/auth/api-keys").json()["items"] == []


def test_an_agent_key_stored_without_hosts_is_confined_not_unrestricted(api: Api, app):
    """Keys written before the schema refused `[]` (stored as ''): still agent keys."""
    key = api.call(
        "admin", "POST", "/api/auth/api-keys", json={"name": "agent", "agent_hosts": ["w*"]}
    ).json()["key"]
    with app.state.runtime.sessions() as session:
        session.execute(update(ApiKey).where(ApiKey.name == "agent").values(agent_hosts=""))
        session.commit()
    reply = api.client.post("/api/projects", headers={"X-API-Key": key}, json={"name": "agentp"})
    assert reply.status_code == 403
