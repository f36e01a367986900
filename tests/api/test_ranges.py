"""HEAD and byte ranges on file downloads: exact bytes for resumed and parallel downloads
(that both storage backends read from the offset, never the whole file for a range, is
tested with the backends, tests/backends/test_webhdfs.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.api import Api

F = "/api/projects/demo/datasets/Logs/files"
MiB = 1024 * 1024
DATA = bytes(range(256)) * 40  # 10 240 bytes, every offset recognisable


def download(api: Api, path: str, who: str = "owner", **headers: str) -> Any:
    return api.call(who, "GET", f"{F}/{path}", headers=headers)


def test_one_range_is_206_with_exactly_its_bytes_and_the_rest_is_whole_or_416(api: Api) -> None:
    assert api.upload("owner", "demo", "Logs", "d/data.bin", DATA).status_code == 201
    size = len(DATA)
    for spec, start, end in (
        ("100-199", 100, 199),  # a-b
        ("10000-", 10000, size - 1),  # open: resume from a
        ("-240", size - 240, size - 1),  # suffix: the last n
        ("10200-99999", 10200, size - 1),  # an end past the file is the file's end
        ("-99999", 0, size - 1),  # a suffix longer than the file is the whole file
    ):
        reply = download(api, "d/data.bin", Range=f"bytes={spec}")
        assert reply.status_code == 206, (spec, reply.text)
        assert reply.content == DATA[start : end + 1], spec
        assert reply.headers["content-range"] == f"bytes {start}-{end}/{size}", spec
        assert reply.headers["content-length"] == str(end - start + 1), spec

    for spec in (f"bytes={size}-", "bytes=20000-20001", "bytes=-0"):
        reply = download(api, "d/data.bin", Range=spec)
        assert reply.status_code == 416, spec
        assert reply.headers["content-range"] == f"bytes */{size}"
        assert reply.json()["error"]["code"] == "range_not_satisfiable"

    # several ranges, another unit, nonsense: the whole file
    for spec in ("bytes=0-9,20-29", "items=0-9", "bytes=9-1", "bytes=x-y"):
        reply = download(api, "d/data.bin", Range=spec)
        assert (reply.status_code, reply.content) == (200, DATA), spec
        assert "content-range" not in reply.headers

    head = api.call("owner", "HEAD", f"{F}/d/data.bin")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(size)
    assert head.headers["accept-ranges"] == "bytes"
    assert head.headers["x-hops-entry-type"] == "file"
    etag, modified = head.headers["etag"], head.headers["last-modified"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert modified.endswith(" GMT")
    whole = download(api, "d/data.bin")
    assert (whole.headers["etag"], whole.headers["accept-ranges"]) == (etag, "bytes")

    # If-Range: the part only while the file is the one the client has
    reply = download(api, "d/data.bin", Range="bytes=5-9", **{"If-Range": etag})
    assert (reply.status_code, reply.content) == (206, DATA[5:10])
    assert api.upload("owner", "demo", "Logs", "d/data.bin", DATA[::-1]).status_code == 201
    reply = download(api, "d/data.bin", Range="bytes=5-9", **{"If-Range": etag})
    assert (reply.status_code, reply.content) == (200, DATA[::-1])
    assert reply.headers["etag"] != etag

    directory = api.call("owner", "HEAD", f"{F}/d")
    assert directory.status_code == 200
    assert directory.headers["x-hops-entry-type"] == "dir"
    # HEAD answers what GET would: a data scientist may list but not download Logs' files
    assert api.call("scientist", "HEAD", f"{F}/d").status_code == 200
    assert api.call("scientist", "HEAD", f"{F}/d/data.bin").status_code == 403
    assert download(api, "d/data.bin", who="scientist", Range="bytes=0-1").status_code == 403
    assert api.call("owner", "HEAD", f"{F}/d/missing").status_code == 404
    assert api.upload("owner", "demo", "Logs", "d/€ b.txt", b"x").status_code == 201
    named = api.call("owner", "HEAD", f"{F}/d/%E2%82%AC%20b.txt").headers["content-disposition"]
    assert named == "attachment; filename=\"? b.txt\"; filename*=UTF-8''%E2%82%AC%20b.txt"

    # each GET is one audit record (a range is a data access); a HEAD is none
    feed = api.call("owner", "GET", "/api/projects/demo/activity", params={"limit": 500})
    reads = [e for e in feed.json()["items"] if e["action"] == "file.read"]
    owner_reads = [e for e in reads if e["target"] == "Logs/d/data.bin" and e["outcome"] == "ok"]
    assert len(owner_reads) == 5 + 4 + 1 + 2  # ranges, ignored ranges, whole, If-Range
    assert all(e["action"] != "file.head" or e["outcome"] != "ok" for e in feed.json()["items"])


def test_a_range_in_the_middle_of_a_64_mib_file_reads_only_that_range(
    api: Api, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The storage is asked for the range alone, so memory and time do not grow with the
    file: what a parallel downloader's workers rely on."""
    rt = app.state.runtime
    assert api.upload("owner", "demo", "Logs", "big.bin", b"").status_code == 201
    target = rt.backends.storage.dataset_path("demo", "Logs") / "big.bin"
    middle = 32 * MiB
    with open(target, "r+b") as handle:  # sparse: 64 MiB without writing them
        handle.truncate(64 * MiB)
        handle.seek(middle)
        handle.write(b"middle")
    asked: list[tuple[int, int | None]] = []
    real = rt.backends.storage.open_read

    def open_read(*args: Any, **kwargs: Any) -> Iterator[bytes]:
        asked.append((kwargs.get("offset", 0), kwargs.get("length")))
        return real(*args, **kwargs)

    monkeypatch.setattr(rt.backends.storage, "open_read", open_read)
    spec = f"bytes={middle - 2}-{middle + MiB - 1}"
    reply = download(api, "big.bin", Range=spec)
    assert reply.status_code == 206
    assert reply.headers["content-range"] == f"bytes {middle - 2}-{middle + MiB - 1}/{64 * MiB}"
    assert len(reply.content) == MiB + 2
    assert reply.content[:8] == b"\0\0middle" and reply.content[8:] == bytes(MiB - 6)
    assert asked == [(middle - 2, MiB + 2)]
