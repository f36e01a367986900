"""Identity: accounts, tokens, API keys and the error contract for bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from tests.support.api import PASSWORD, Api


def test_first_account_is_admin_and_later_ones_are_not(api: Api):
    me = api.call("admin", "GET", "/api/users/me").json()
    assert me["is_admin"] is True and me["email"] == "admin@example.org"
    assert api.call("owner", "GET", "/api/users/me").json()["is_admin"] is False


def test_login_returns_a_short_lived_access_token_and_a_refresh_token(api: Api):
    reply = api.client.post(
        "/api/auth/login", json={"email": "owner@example.org", "password": PASSWORD}
    )
    body = reply.json()
    assert reply.status_code == 200 and body["token_type"] == "bearer"
    assert body["expires_in"] == 900 and body["refresh_expires_in"] > body["expires_in"]
    assert body["access_token"] and body["refresh_token"]


def test_register_twice_is_conflict(api: Api):
    reply = api.client.post(
        "/api/auth/register", json={"email": "OWNER@example.org", "password": PASSWORD}
    )
    assert reply.status_code == 409
    assert reply.json()["error"]["code"] == "conflict"


def test_wrong_password_and_unknown_email_look_the_same(api: Api):
    wrong = api.client.post(
        "/api/auth/login", json={"email": "owner@example.org", "password": "x" * 10}
    )
    unknown = api.client.post(
        "/api/auth/login", json={"email": "nobody@example.org", "password": "x" * 10}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "unauthorized"),
        ({"Authorization": "Bearer not-a-jwt"}, "invalid_token"),
        ({"Authorization": "ApiKey hops_nope"}, "invalid_api_key"),
        ({"X-API-Key": "hops_abc_def"}, "invalid_api_key"),
    ],
)
def test_missing_or_bad_credentials_are_401(api: Api, headers, code):
    reply = api.client.get("/api/users/me", headers=headers)
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == code
    assert reply.headers["WWW-Authenticate"].startswith("Bearer ")


def test_expired_token_is_401_token_expired(api: Api, settings):
    past = datetime.now(UTC) - timedelta(hours=2)
    token = jwt.encode(
        {"sub": "1", "iat": past, "exp": past + timedelta(minutes=1)},
        settings.jwt_secret,
        algorithm="HS256",
    )
    reply = api.client.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "token_expired"


def test_token_signed_with_another_key_is_refused(api: Api):
    token = jwt.encode({"sub": "1", "exp": datetime.now(UTC) + timedelta(hours=1)}, "k" * 40)
    assert (
        api.client.get("/api/users/me", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )


def test_api_key_lifecycle(api: Api):
    created = api.call("owner", "POST", "/api/auth/api-keys", json={"name": "laptop"})
    assert created.status_code == 201
    key = created.json()["key"]
    assert api.client.get("/api/users/me", headers={"X-API-Key": key}).json()["email"] == (
        "owner@example.org"
    )
    assert (
        api.client.get("/api/projects/demo", headers={"Authorization": f"ApiKey {key}"}).status_code
        == 200
    )
    listed = api.call("owner", "GET", "/api/auth/api-keys").json()["items"]
    assert [k["name"] for k in listed] == ["laptop"] and "key" not in listed[0]
    assert (
        api.call("owner", "POST", "/api/auth/api-keys", json={"name": "laptop"}).status_code == 409
    )
    assert api.call("owner", "DELETE", "/api/auth/api-keys/laptop").status_code == 204
    assert api.client.get("/api/users/me", headers={"X-API-Key": key}).status_code == 401


def test_api_keys_are_stored_hashed(api: Api, app):
    key = api.call("owner", "POST", "/api/auth/api-keys", json={"name": "k"}).json()["key"]
    from sqlalchemy import text

    with app.state.runtime.engine.connect() as conn:
        stored = conn.execute(text("SELECT prefix, secret_hash FROM api_keys")).all()
    secret = key.split("_", 2)[2]
    assert all(secret not in row.secret_hash for row in stored)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b'{"email": "a@b.org", "password": ', 400, "malformed_json"),
        (b'{"email": 5, "password": "xxxxxxxxxx"}', 422, "validation_error"),
        (b'{"email": "not-an-email", "password": "xxxxxxxxxx"}', 422, "validation_error"),
        (b'{"email": "a@b.org", "password": "short"}', 422, "validation_error"),
        (
            b'{"email": "a@b.org", "password": "xxxxxxxxxx", "role": "admin"}',
            422,
            "validation_error",
        ),
        (b"[]", 422, "validation_error"),
    ],
)
def test_bad_registration_input_is_4xx_with_error_body(api: Api, body, status, code):
    reply = api.client.post(
        "/api/auth/register", content=body, headers={"Content-Type": "application/json"}
    )
    assert reply.status_code == status, reply.text
    assert reply.json()["error"]["code"] == code
    assert reply.json()["error"]["message"]


def test_oversized_json_body_is_413(api: Api):
    reply = api.call(
        "owner",
        "POST",
        "/api/projects",
        content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert reply.status_code == 413
    assert reply.json()["error"]["code"] == "body_too_large"


def test_unknown_route_and_method_use_the_error_shape(api: Api):
    assert api.client.get("/api/nope").json()["error"]["code"] == "not_found"
    reply = api.client.patch("/api/health")
    assert reply.status_code == 405 and reply.json()["error"]["code"] == "method_not_allowed"


def test_openapi_document_is_served(api: Api):
    doc = api.client.get("/api/openapi.json").json()
    assert "/api/projects/{project}/datasets/{dataset}/files/{path}" in doc["paths"]
