"""The JSON body limit holds whether or not the body declares its length, file uploads
stay exempt, and every 413 it answers is in the audit log."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.support.api import Api

LIMIT = 1024 * 1024  # the default HOPS_MAX_JSON_BODY_BYTES
CHUNK = 64 * 1024
JSON = {"Content-Type": "application/json"}


class Chunks:
    """A chunked body (no Content-Length) that counts how much of it the server pulled."""

    def __init__(self, total: int, *, prefix: bytes = b'{"name": "') -> None:
        self.total = total
        self.prefix = prefix
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        yield self.prefix
        self.sent += len(self.prefix)
        while self.sent < self.total:
            chunk = b"a" * min(CHUNK, self.total - self.sent)
            self.sent += len(chunk)
            yield chunk


def _feed(api: Api, project: str = "demo") -> list[dict]:
    reply = api.call("owner", "GET", f"/api/projects/{project}/activity?limit=20")
    assert reply.status_code == 200, reply.text
    return reply.json()["items"]


def test_chunked_json_body_over_the_limit_is_413(api: Api):
    before = api.call("owner", "GET", "/api/projects").json()["total"]
    reply = api.call(
        "owner", "POST", "/api/projects", content=iter(Chunks(8 * LIMIT)), headers=JSON
    )
    assert reply.status_code == 413, reply.text
    assert reply.json()["error"]["code"] == "body_too_large"
    assert api.call("owner", "GET", "/api/projects").json()["total"] == before


def test_chunked_body_is_refused_as_soon_as_it_passes_the_limit(api: Api, live_server: str):
    """Over real HTTP: the client sends a little more than the limit and never ends the
    body. A server that read to the end (the old 8 MiB-then-422) would never answer and
    the read below would time out; the limit answers while the body is still open."""
    url = urlsplit(live_server)
    with socket.create_connection((url.hostname, url.port), timeout=60) as conn:
        head = (
            "POST /api/projects HTTP/1.1\r\n"
            f"Host: {url.netloc}\r\n"
            f"Authorization: Bearer {api.tokens['owner']}\r\n"
            "Content-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n"
        )
        conn.sendall(head.encode())
        chunk = b'{"name": "' + b"a" * (CHUNK - 10)
        for _ in range(LIMIT // CHUNK + 1):
            conn.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            chunk = b"a" * CHUNK
        reply = conn.makefile("rb").readline()
    assert reply.startswith(b"HTTP/1.1 413"), reply


def test_declared_json_body_over_the_limit_is_413(api: Api):
    reply = api.call(
        "owner", "POST", "/api/projects", content=b"{" + b" " * LIMIT + b"}", headers=JSON
    )
    assert reply.status_code == 413
    assert reply.json()["error"]["code"] == "body_too_large"


def test_chunked_json_body_under_the_limit_is_served(api: Api):
    body = iter([b'{"name": ', b'"chunky"}'])
    reply = api.call("owner", "POST", "/api/projects", content=body, headers=JSON)
    assert reply.status_code == 201, reply.text
    assert reply.json()["name"] == "chunky"


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "declared"])
def test_file_uploads_are_exempt(api: Api, chunked: bool):
    data = b"x" * (LIMIT + CHUNK)
    content = iter([data[:CHUNK], data[CHUNK:]]) if chunked else data
    reply = api.call(
        "owner", "PUT", "/api/projects/demo/datasets/Resources/files/big.bin", content=content
    )
    assert reply.status_code == 201, reply.text
    assert api.download("owner", "demo", "Resources", "big.bin").content == data


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "declared"])
def test_refusals_by_the_limit_are_audited(api: Api, chunked: bool):
    url = "/api/projects/demo/members"
    content = iter(Chunks(2 * LIMIT, prefix=b'{"email": "')) if chunked else b" " * (LIMIT + 1)
    reply = api.call("owner", "POST", url, content=content, headers=JSON)
    assert reply.status_code == 413
    newest = _feed(api)[0]
    assert (newest["actor"], newest["outcome"], newest["status_code"]) == (
        # refused before authentication ran: nobody was identified yet
        "anonymous",
        "rejected",
        413,
    )
    # chunked: refused while the route read its body; declared: before routing
    assert newest["action"] == ("member.add" if chunked else f"POST {url}")
    assert newest["project"] == "demo"
