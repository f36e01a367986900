"""Every listing answers one page shape and takes `?limit=&offset=`."""

from __future__ import annotations

from typing import Any

from tests.support.api import Api

P = "/api/projects/demo"
PAGE_KEYS = {"items", "total", "limit", "offset"}


def test_no_get_in_the_document_answers_a_bare_array(api: Api) -> None:
    """A listing added later cannot forget the page shape: every JSON answer of a GET is
    an object, and every one with `items` is a page that takes limit and offset."""
    doc = api.client.get("/api/openapi.json").json()
    schemas = doc["components"]["schemas"]

    def resolve(schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
        return schema

    pages = 0
    for path, item in doc["paths"].items():
        get = item.get("get")
        content = (get or {}).get("responses", {}).get("200", {}).get("content", {})
        if "application/json" not in content:
            continue
        schema = resolve(content["application/json"]["schema"])
        assert schema.get("type") != "array", path
        if "items" in schema.get("properties", {}):
            assert set(schema["properties"]) >= PAGE_KEYS, path
            params = {p["name"] for p in get.get("parameters", []) if p["in"] == "query"}
            assert {"limit", "offset"} <= params, path
            pages += 1
    assert pages >= 18


def test_pages_of_datasets_and_of_a_directory(api: Api) -> None:
    everything = api.call("owner", "GET", f"{P}/datasets").json()
    assert set(everything) == PAGE_KEYS
    names = [d["name"] for d in everything["items"]]
    assert (everything["total"], everything["limit"], everything["offset"]) == (4, 50, 0)
    page = api.call("owner", "GET", f"{P}/datasets", params={"limit": 2, "offset": 1}).json()
    assert [d["name"] for d in page["items"]] == names[1:3]
    assert (page["total"], page["limit"], page["offset"]) == (4, 2, 1)
    beyond = api.call("owner", "GET", f"{P}/datasets", params={"offset": 10}).json()
    assert (beyond["items"], beyond["total"]) == ([], 4)

    for name in ("c.txt", "a.txt", "b.txt"):
        assert api.upload("owner", "demo", "Logs", f"dir/{name}", b"x").status_code == 201
    listing = api.call("owner", "GET", f"{P}/datasets/Logs/files/dir", params={"limit": 2})
    body = listing.json()
    assert set(body) == {"dataset", "path"} | PAGE_KEYS
    assert (body["dataset"], body["path"], body["total"], body["limit"]) == ("Logs", "dir", 3, 2)
    assert [e["name"] for e in body["items"]] == ["a.txt", "b.txt"]
    rest = api.call("owner", "GET", f"{P}/datasets/Logs/files/dir", params={"offset": 2}).json()
    assert [e["name"] for e in rest["items"]] == ["c.txt"]

    for params in ({"limit": 0}, {"limit": 501}, {"offset": -1}, {"limit": "x"}):
        reply = api.call("owner", "GET", f"{P}/members", params=params)
        assert reply.status_code == 422, params
        assert "error" in reply.json()
