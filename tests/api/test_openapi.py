"""The OpenAPI document tells the truth about errors, headers, datetimes and names.

The fuzzer (test_fuzz.py) checks the answers it provokes against the document; these tests
check the rules the document is built from, including for a route added after the fact,
and the answers the fuzzer rarely reaches (every datetime of every GET, 405's `Allow`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Body
from hypothesis import given
from hypothesis import strategies as st

from hopsworks_api.deps import CurrentUser, PageDep
from hopsworks_api.schemas import (
    NEW_PROJECT_NAME_MAX,
    PROJECT_NAME_SCHEMA_PATTERN,
    ApiModel,
    check_new_project_name,
    check_project_name,
)
from tests.support.api import PASSWORD, Api

OFFSET = re.compile(r"(Z|[+-]\d\d:\d\d)$")
HTTP_METHODS = {"get", "put", "post", "patch", "delete"}


def document(api: Api) -> dict[str, Any]:
    reply = api.client.get("/api/openapi.json")
    assert reply.status_code == 200
    return reply.json()


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in HTTP_METHODS
    ]


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_every_operation_documents_the_errors_its_dependencies_imply(api: Api) -> None:
    doc = document(api)
    assert doc["components"]["schemas"]["Error"]["required"] == ["error"]
    for method, path, op in operations(doc):
        where = f"{method} {path}"
        responses = op["responses"]
        statuses = {int(code) for code in responses}
        assert {413, 503} <= statuses, where  # the body limit and a backing system down
        if op.get("security"):
            assert {401, 403} <= statuses, where
            assert {"mutualTLS": []} in op["security"], where
        if 401 in statuses:
            assert "WWW-Authenticate" in responses["401"]["headers"], where
        if "{" in path:
            assert 404 in statuses, where
        body = op.get("requestBody", {}).get("content", {})
        if "application/json" in body:
            assert {400, 422} <= statuses, where
        for code, response in responses.items():
            assert "X-Request-ID" in response.get("headers", {}), (where, code)
            if int(code) >= 400:
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (where, code)
            if int(code) == 429:
                assert "Retry-After" in response["headers"], where
    assert "HTTPValidationError" not in doc["components"]["schemas"]


def test_the_documented_error_shape_is_the_one_the_service_sends(api: Api) -> None:
    error = document(api)["components"]["schemas"]["Error"]["properties"]["error"]
    reply = api.call("owner", "GET", "/api/projects/nosuchproject")
    assert reply.status_code == 404
    assert set(error["required"]) <= set(reply.json()["error"])


class Thing(ApiModel):
    name: str


def test_a_route_added_later_is_documented_without_listing_its_errors(api: Api) -> None:
    """What a new route depends on decides its errors: authentication (401, 403), a path
    parameter (404), a JSON body (400, 422), a query parameter (422), a state change (409)."""

    router = APIRouter()

    @router.post("/api/projects/{project}/things", name="thing.create", status_code=201)
    def create_thing(project: str, body: Thing, user: CurrentUser) -> Thing:
        return body

    @router.get("/api/things", name="thing.list")
    def list_things(page: PageDep) -> list[Thing]:
        return []

    @router.put("/api/plain/{name}", name="plain.put", status_code=204)
    def plain(name: str, note: Annotated[str, Body()]) -> None:
        return None

    app = api.client.app
    app.include_router(router)
    app.openapi_schema = None
    try:
        paths = document(api)["paths"]
    finally:
        app.openapi_schema = None
    create = paths["/api/projects/{project}/things"]["post"]["responses"]
    assert set(create) == {"201", "400", "401", "403", "404", "409", "413", "422", "503"}
    listing = paths["/api/things"]["get"]["responses"]
    assert set(listing) == {"200", "413", "422", "503"}
    # No authentication: nothing to conflict with as far as the rules know, no 401/403.
    put = paths["/api/plain/{name}"]["put"]["responses"]
    assert set(put) == {"204", "400", "404", "413", "422", "503"}


def test_every_datetime_is_declared_date_time_and_no_naive_one_is_served(api: Api) -> None:
    """Walk every GET of the demo world with its documented schema: each value the schema
    declares `format: date-time` carries its UTC offset, and no other string looks like a
    datetime without one."""
    api.upload("owner", "demo", "Resources", "dir/notes.txt", b"hello\n")
    assert api.call("owner", "POST", "/api/auth/api-keys", json={"name": "k"}).status_code == 201
    assert api.call("owner", "POST", "/api/projects", json={"name": "other"}).status_code == 201
    offer = {"project": "other"}
    reply = api.call("owner", "POST", "/api/projects/demo/datasets/Resources/shares", json=offer)
    assert reply.status_code == 201
    api.call("owner", "POST", "/api/projects/demo/topics", json={"name": "events"})
    urls = {
        "/api/users/me": "/api/users/me",
        "/api/auth/api-keys": "/api/auth/api-keys",
        "/api/projects": "/api/projects",
        "/api/projects/{project}": "/api/projects/demo",
        "/api/projects/{project}/members": "/api/projects/demo/members",
        "/api/projects/{project}/datasets": "/api/projects/demo/datasets",
        "/api/projects/{project}/datasets/{dataset}/files/{path}": (
            "/api/projects/demo/datasets/Resources/files/dir"
        ),
        "/api/projects/{project}/datasets/{dataset}/shares": (
            "/api/projects/demo/datasets/Resources/shares"
        ),
        "/api/projects/{project}/shared": "/api/projects/other/shared",
        "/api/projects/{project}/activity": "/api/projects/demo/activity",
        "/api/projects/{project}/credentials": "/api/projects/demo/credentials",
        "/api/projects/{project}/topics": "/api/projects/demo/topics",
    }
    doc = document(api)
    seen = 0

    def walk(value: Any, schema: dict[str, Any], where: str) -> None:
        nonlocal seen
        schema = resolve(doc, schema)
        for option in schema.get("anyOf", []):
            if option.get("type") != "null" and value is not None:
                walk(value, option, where)
        if schema.get("format") == "date-time":
            assert isinstance(value, str) and OFFSET.search(value), (where, value)
            assert datetime.fromisoformat(value).utcoffset() == timedelta(0), (where, value)
            seen += 1
        elif isinstance(value, str):
            looks_like_datetime = re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+", value)
            assert not looks_like_datetime, (where, value)
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, schema.get("properties", {}).get(key, {}), f"{where}.{key}")
        elif isinstance(value, list):
            for item in value:
                walk(item, schema.get("items", {}), f"{where}[]")

    for template, url in urls.items():
        reply = api.call("owner", "GET", url)
        assert reply.status_code == 200, (url, reply.text)
        schema = doc["paths"][template]["get"]["responses"]["200"]["content"]["application/json"]
        walk(reply.json(), schema["schema"], url)
    assert seen >= len(urls) - 1  # nearly every answer above carries at least one datetime


def test_every_point_in_time_in_the_document_is_a_date_time(api: Api) -> None:
    """Properties named like a point in time are declared `format: date-time`, so that
    clients parse them as such (and the test above checks their values)."""
    doc = document(api)
    names = re.compile(r"(_at|^ts|^modified|^not_before|^not_after|_until)$")
    found = 0
    for model, schema in doc["components"]["schemas"].items():
        for name, prop in schema.get("properties", {}).items():
            if names.search(name):
                options = prop.get("anyOf", [prop])
                formats = {o.get("format") for o in options if o.get("type") != "null"}
                assert formats == {"date-time"}, (model, name, prop)
                found += 1
    assert found >= 10


class Stamp(ApiModel):
    at: datetime
    maybe: datetime | None = None


def test_api_models_serialise_naive_utc_with_an_offset_and_convert_other_zones() -> None:
    naive = Stamp(at=datetime(2026, 1, 2, 3, 4, 5), maybe=None)
    assert naive.model_dump_json() == '{"at":"2026-01-02T03:04:05Z","maybe":null}'
    cet = timezone(timedelta(hours=1))
    aware = Stamp(at=datetime(2026, 1, 2, 4, 4, 5, tzinfo=cet))
    assert aware.at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert aware.model_dump(mode="json")["at"] == "2026-01-02T03:04:05Z"


def test_405_names_every_method_of_the_resource(api: Api) -> None:
    """Starlette's 405 listed only the first route's method (FastAPI makes a route per
    method); `Allow` lists what the document lists for the path."""
    doc = document(api)
    for url, template in (
        ("/api/projects", "/api/projects"),
        ("/api/projects/demo", "/api/projects/{project}"),
        ("/api/users/me", "/api/users/me"),
        (
            "/api/projects/demo/datasets/Resources/files/a/b",
            "/api/projects/{project}/datasets/{dataset}/files/{path}",
        ),
    ):
        documented = {m.upper() for m in doc["paths"][template] if m in HTTP_METHODS}
        reply = api.call("owner", "OPTIONS", url)
        assert reply.status_code == 405, url
        assert reply.json()["error"]["code"] == "method_not_allowed"
        allowed = set(reply.headers["allow"].split(", "))
        assert allowed - {"HEAD"} == documented, url
        assert ("HEAD" in allowed) == ("GET" in documented), url


@given(st.text(alphabet="abz09_A-", max_size=70))
def test_the_documented_project_name_rule_is_the_enforced_one(name: str) -> None:
    """The schema's pattern and lengths (what clients and fuzzers read) accept exactly the
    names `check_project_name` accepts."""

    def documented(limit: int) -> bool:
        return bool(re.search(PROJECT_NAME_SCHEMA_PATTERN, name)) and 3 <= len(name) <= limit

    def enforced(check: Any) -> bool:
        try:
            check(name)
        except ValueError:
            return False
        return True

    assert documented(63) == enforced(check_project_name)
    assert documented(NEW_PROJECT_NAME_MAX) == enforced(check_new_project_name)


def test_a_new_project_name_fits_every_members_certificate(api: Api) -> None:
    """`<project>__<user>` is a certificate CN (64 characters at most): a 63-character
    project name was accepted by the schema and answered 500 when its certificate was made.
    The longest name accepted now works with the longest usernames."""
    local = "x" * 30
    for domain in ("a.example.org", "b.example.org"):  # the second gets a counter suffix
        email = f"{local}@{domain}"
        reply = api.client.post("/api/auth/register", json={"email": email, "password": PASSWORD})
        assert reply.status_code == 201, reply.text
    token = api.client.post(
        "/api/auth/login", json={"email": f"{local}@b.example.org", "password": PASSWORD}
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    longest = "p" * NEW_PROJECT_NAME_MAX
    reply = api.client.post("/api/projects", json={"name": longest}, headers=headers)
    assert reply.status_code == 201, reply.text
    member = {"email": f"{local}@a.example.org", "role": "data_scientist"}
    reply = api.client.post(f"/api/projects/{longest}/members", json=member, headers=headers)
    assert reply.status_code == 201, reply.text
    reply = api.client.post("/api/projects", json={"name": longest + "q"}, headers=headers)
    assert reply.status_code == 422
    assert reply.json()["error"]["code"] == "validation_error"


def test_raw_bodies_are_documented_as_bytes(api: Api) -> None:
    doc = document(api)
    put = doc["paths"]["/api/projects/{project}/datasets/{dataset}/files/{path}"]["put"]
    schema = put["requestBody"]["content"]["application/octet-stream"]["schema"]
    assert schema == {"type": "string", "format": "binary"}
