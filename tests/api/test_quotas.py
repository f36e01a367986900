"""Storage quotas: enforced on upload with a clear 413, nothing partial left behind."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.support.api import Api

Q = "/api/projects/demo/quotas"


def set_quota(api: Api, **limits) -> None:
    reply = api.call("admin", "PUT", Q, json=limits)
    assert reply.status_code == 200, reply.text


def usage(api: Api) -> tuple[int, int]:
    q = api.call("owner", "GET", Q).json()
    return q["storage_bytes"]["usage"], q["storage_files"]["usage"]


def leftovers(settings) -> list:
    return list((settings.storage_root / ".uploads").iterdir())


def test_quotas_report_every_resource(api: Api):
    q = api.call("scientist", "GET", Q).json()
    assert q["storage_bytes"] == {"limit": 100 * 1024**3, "usage": 0, "enforced": True}
    assert q["hive_bytes"] == {"limit": None, "usage": 0, "enforced": True}
    assert q["gpus"] == {"limit": 0, "usage": 0, "enforced": True}  # GPUs are granted
    assert q["compute_seconds"] == {"limit": None, "usage": 0, "enforced": False}  # NOLIMIT
    assert q["compute_payment"] == "NOLIMIT" and q["compute_stopped"] is False
    assert q["kafka_topics"] == {"limit": None, "usage": 0, "enforced": True}


def test_only_admins_change_quotas_and_values_are_checked(api: Api):
    assert api.call("owner", "PUT", Q, json={"storage_bytes": 1}).status_code == 403
    assert api.call("admin", "PUT", Q, json={"storage_bytes": -1}).status_code == 422
    assert api.call("admin", "PUT", Q, json={"storage_bytes": "lots"}).status_code == 422
    assert api.call("admin", "PUT", Q, json={"bogus": 1}).status_code == 422
    set_quota(api, storage_bytes=None, gpus=2)
    q = api.call("owner", "GET", Q).json()
    assert q["storage_bytes"]["limit"] is None and q["gpus"]["limit"] == 2
    assert q["storage_files"]["limit"] == 1_000_000  # untouched


def test_upload_over_quota_is_413_and_leaves_nothing(api: Api, settings):
    set_quota(api, storage_bytes=1000)
    assert api.upload("owner", "demo", "Logs", "ok.bin", b"x" * 600).status_code == 201
    reply = api.upload("owner", "demo", "Logs", "big.bin", b"x" * 500)
    assert reply.status_code == 413
    error = reply.json()["error"]
    assert (
        error["code"] == "quota_exceeded" and "storage quota of project 'demo'" in error["message"]
    )
    assert api.download("owner", "demo", "Logs", "big.bin").status_code == 404
    assert usage(api) == (600, 1)
    assert leftovers(settings) == []


def test_chunked_upload_over_quota_stops_midway(api: Api, settings):
    set_quota(api, storage_bytes=10 * 1024 * 1024)

    def body():
        for _ in range(40):
            yield b"y" * (1024 * 1024)

    reply = api.call(
        "owner", "PUT", "/api/projects/demo/datasets/Logs/files/stream.bin", content=body()
    )
    assert reply.status_code == 413
    assert api.download("owner", "demo", "Logs", "stream.bin").status_code == 404
    assert usage(api) == (0, 0)
    assert leftovers(settings) == []


def test_chunked_upload_within_quota(api: Api):
    def body():
        for _ in range(20):
            yield b"z" * (1024 * 1024)

    reply = api.call("owner", "PUT", "/api/projects/demo/datasets/Logs/files/s.bin", content=body())
    assert reply.status_code == 201 and reply.json()["size"] == 20 * 1024 * 1024
    assert usage(api) == (20 * 1024 * 1024, 1)


def test_file_count_quota(api: Api, settings):
    set_quota(api, storage_files=2)
    assert api.upload("owner", "demo", "Logs", "1", b"a").status_code == 201
    assert api.upload("owner", "demo", "Logs", "2", b"b").status_code == 201
    third = api.upload("owner", "demo", "Logs", "3", b"c")
    assert third.status_code == 413 and "at most 2 files" in third.json()["error"]["message"]
    assert usage(api) == (2, 2)
    assert leftovers(settings) == []


def test_lying_content_length_is_refused_and_cleaned_up(api: Api, settings):
    reply = api.call(
        "owner",
        "PUT",
        "/api/projects/demo/datasets/Logs/files/lie.bin",
        content=b"x" * 10,
        headers={"Content-Length": "abc"},
    )
    assert reply.status_code in (400, 422)
    assert usage(api) == (0, 0) and leftovers(settings) == []


def test_concurrent_uploads_cannot_overshoot(api: Api, live_server, settings):
    set_quota(api, storage_bytes=1000)
    headers = api.headers("owner")

    def put(i: int) -> int:
        with httpx.Client(base_url=live_server, timeout=60) as client:
            return client.put(
                f"/api/projects/demo/datasets/Logs/files/f{i}", content=b"q" * 200, headers=headers
            ).status_code

    with ThreadPoolExecutor(10) as pool:
        codes = list(pool.map(put, range(10)))
    assert sorted(codes) == [201] * 5 + [413] * 5
    assert usage(api) == (1000, 5)
    assert leftovers(settings) == []


@pytest.mark.parametrize("who", ["owner", "admin"])
def test_quota_counters_match_the_files_on_disk(api: Api, who, settings, app):
    for i in range(3):
        api.upload("owner", "demo", "Resources", f"d{i}/f.txt", b"abc" * (i + 1))
    api.call("owner", "DELETE", "/api/projects/demo/datasets/Resources/files/d1")
    assert usage(api) == app.state.runtime.backends.storage.usage("demo")


@pytest.mark.parametrize("value", [2**63, 10**30])
def test_quota_values_beyond_the_db_integer_range_are_422(api: Api, value):
    reply = api.call("admin", "PUT", Q, json={"storage_bytes": value})
    assert reply.status_code == 422
    assert api.call("admin", "PUT", Q, json={"kafka_topics": 2**63 - 1}).status_code == 200
