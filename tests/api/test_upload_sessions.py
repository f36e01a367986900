"""Resumable upload sessions: chunks in any order and in parallel give the exact file,
a client resumes from what the server says it received, the quota is reserved up front
and given back by abort and by the reaper, and a session is its creator's alone."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from hopsworks_api.datasets import uploads
from hopsworks_api.db.base import utcnow
from hopsworks_api.main import create_app
from tests.api.test_quotas import set_quota, usage
from tests.support.api import Api
from tests.support.settings import test_settings
from tests.support.webhdfs_fake import FakeHdfs, serve

MiB = 1024 * 1024
U = "/api/projects/demo/datasets/Logs/uploads"
QUIET = {"upload_idle_timeout_seconds": 3600}
"""The periodic reaper's interval: it never runs during a test, which runs it itself."""


@pytest.fixture
def settings(tmp_path, db_url):
    return test_settings(tmp_path / "data", db_url, **QUIET)


def payload(size: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)


def parts(data: bytes, chunk: int, total: int) -> dict[int, bytes]:
    """Chunk n starts at (n-1)*chunk; the last one holds the rest."""
    return {
        n: data[(n - 1) * chunk : n * chunk if n < total else len(data)]
        for n in range(1, total + 1)
    }


def create(api: Api, who: str = "owner", **body) -> httpx.Response:
    return api.call(who, "POST", U, json={"chunk_size": MiB, **body})


def put(api: Api, sid: str, n: int, data: bytes, who: str = "owner") -> httpx.Response:
    return api.call(who, "PUT", f"{U}/{sid}/chunks/{n}", content=data)


def rows(app, table: str) -> int:
    with app.state.runtime.engine.connect() as conn:
        return conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar()


def staging(settings, sid: str):
    return settings.storage_root / "Projects" / "demo" / uploads.staging_area(sid)


def test_parallel_out_of_order_chunks_give_the_exact_bytes(api: Api, app, settings, live_server):
    data = payload(5 * MiB + 12345)
    reply = create(api, path="big/data.bin", size=len(data))
    assert reply.status_code == 201, reply.text
    session = reply.json()
    assert session["total_chunks"] == 6 and session["received"] == []
    assert usage(api) == (len(data), 1)  # reserved up front
    sid, chunks = session["id"], parts(data, MiB, 6)
    order = list(chunks)
    random.Random(3).shuffle(order)
    headers = api.headers("owner")
    with httpx.Client(base_url=live_server, headers=headers, timeout=60) as client:

        def send(n: int) -> int:
            return client.put(f"{U}/{sid}/chunks/{n}", content=chunks[n]).status_code

        with ThreadPoolExecutor(max_workers=3) as pool:
            assert list(pool.map(send, order)) == [200] * 6
    assert sorted(api.call("owner", "GET", f"{U}/{sid}").json()["received"]) == list(range(1, 7))
    done = api.call("owner", "POST", f"{U}/{sid}/complete")
    assert done.status_code == 201, done.text
    assert done.json() == {"dataset": "Logs", "path": "big/data.bin", "size": len(data)}
    assert api.download("owner", "demo", "Logs", "big/data.bin").content == data
    assert usage(api) == (len(data), 1)
    assert not staging(settings, sid).exists()
    assert rows(app, "upload_sessions") == rows(app, "upload_reservations") == 0
    assert api.call("owner", "GET", f"{U}/{sid}").status_code == 404
    assert list((settings.storage_root / ".uploads").iterdir()) == []


def test_resume_resend_wrong_lengths_and_missing_chunks(api: Api):
    data = payload(3 * MiB + 10)
    sid = create(api, path="r.bin", size=len(data)).json()["id"]
    chunks = parts(data, MiB, 4)
    assert put(api, sid, 3, chunks[3]).json() == {"received": 1}
    assert put(api, sid, 1, chunks[1]).json() == {"received": 2}
    # a client that lost its state asks what arrived, and sends the rest
    resumed = api.call("owner", "GET", f"{U}/{sid}").json()
    assert resumed["received"] == [1, 3] and resumed["size"] == len(data)
    assert put(api, sid, 1, chunks[1]).json() == {"received": 2}  # re-sent: idempotent
    for n, body in ((2, chunks[2][:-1]), (4, chunks[4] + b"x"), (0, b""), (5, b"x")):
        reply = put(api, sid, n, body)
        assert reply.status_code == 400, (n, reply.text)
    missing = api.call("owner", "POST", f"{U}/{sid}/complete")
    assert missing.status_code == 409 and missing.json()["error"]["code"] == "chunks_missing"
    assert "2, 4" in missing.json()["error"]["message"]
    assert put(api, sid, 2, chunks[2]).status_code == 200
    assert put(api, sid, 4, chunks[4]).status_code == 200
    # a failed complete keeps the session for another try
    dirs = "/api/projects/demo/datasets/Logs/directories/r.bin"
    assert api.call("owner", "POST", dirs).status_code == 201
    taken = api.call("owner", "POST", f"{U}/{sid}/complete")
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "already_exists"
    assert (
        api.call("owner", "DELETE", "/api/projects/demo/datasets/Logs/files/r.bin").status_code
        == 204
    )
    assert api.call("owner", "GET", f"{U}/{sid}").json()["received"] == [1, 2, 3, 4]
    assert api.call("owner", "POST", f"{U}/{sid}/complete").status_code == 201
    assert api.download("owner", "demo", "Logs", "r.bin").content == data
    # the path exists now: a second session for it needs overwrite
    again = create(api, path="r.bin", size=1)
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_exists"
    assert create(api, path="r.bin", size=1, overwrite=True).status_code == 201


def test_flowjs_chunking_with_a_larger_last_chunk(api: Api):
    """flow.js sends floor(size/chunk) chunks, the last one up to twice as long."""
    data = payload(2 * MiB + MiB // 2)
    reply = create(api, path="flow.bin", size=len(data), total_chunks=2)
    assert reply.status_code == 201, reply.text
    sid = reply.json()["id"]
    # 1.5 MiB: past the JSON body limit (1 MiB), which chunks are exempt from
    assert put(api, sid, 2, data[MiB:]).status_code == 200
    assert put(api, sid, 1, data[:MiB]).status_code == 200
    assert api.call("owner", "POST", f"{U}/{sid}/complete").status_code == 201
    assert api.download("owner", "demo", "Logs", "flow.bin").content == data
    for bad in ({"total_chunks": 4}, {"total_chunks": 1}, {"chunk_size": 1000}):
        assert create(api, path="x", size=len(data), **bad).status_code in (400, 422), bad


def test_quota_is_checked_at_create_and_abort_gives_it_back(api: Api, app, settings):
    set_quota(api, storage_bytes=4 * MiB)
    over = create(api, path="too.big", size=4 * MiB + 1)
    assert over.status_code == 413 and over.json()["error"]["code"] == "quota_exceeded"
    assert usage(api) == (0, 0)
    sid = create(api, path="fits", size=3 * MiB).json()["id"]
    assert put(api, sid, 1, b"a" * MiB).status_code == 200
    assert usage(api) == (3 * MiB, 1)
    assert create(api, path="more", size=2 * MiB).status_code == 413  # held by the session
    assert api.call("owner", "DELETE", f"{U}/{sid}").status_code == 204
    assert usage(api) == (0, 0)
    assert not staging(settings, sid).exists()
    assert rows(app, "upload_sessions") == rows(app, "upload_reservations") == 0
    assert api.call("owner", "GET", f"{U}/{sid}").status_code == 404
    assert create(api, path="more", size=2 * MiB).status_code == 201


def test_a_session_is_its_creators_alone(api: Api):
    sid = create(api, path="mine", size=10).json()["id"]
    api.add_member("owner", "demo", "outsider", "data_owner")  # another member who may write
    for who in ("outsider", "scientist", "admin"):
        assert api.call(who, "GET", f"{U}/{sid}").status_code == 404, who
        assert put(api, sid, 1, b"x" * 10, who=who).status_code == 404, who
        assert api.call(who, "POST", f"{U}/{sid}/complete").status_code == 404, who
        assert api.call(who, "DELETE", f"{U}/{sid}").status_code == 404, who
    other = "/api/projects/demo/datasets/Resources/uploads"
    assert api.call("owner", "GET", f"{other}/{sid}").status_code == 404  # another dataset
    assert api.call("owner", "GET", f"{U}/{sid}").status_code == 200


def test_concurrent_creates_with_one_client_key_make_one_session(api: Api, app, live_server):
    body = {"path": "same.bin", "size": 2 * MiB, "chunk_size": MiB, "client_key": "k-1"}
    start = threading.Barrier(2)
    with httpx.Client(base_url=live_server, headers=api.headers("owner"), timeout=60) as client:

        def send(_: int) -> httpx.Response:
            start.wait(timeout=30)
            return client.post(U, json=body)

        with ThreadPoolExecutor(max_workers=2) as pool:
            replies = list(pool.map(send, range(2)))
    assert sorted(r.status_code for r in replies) == [200, 201], [r.text for r in replies]
    assert replies[0].json()["id"] == replies[1].json()["id"]
    assert rows(app, "upload_sessions") == 1 and usage(api) == (2 * MiB, 1)
    again = create(api, path="same.bin", size=2 * MiB, client_key="k-1")
    assert again.status_code == 200 and again.json()["id"] == replies[0].json()["id"]
    other = create(api, path="same.bin", size=3 * MiB, client_key="k-1")
    assert other.status_code == 409


def test_the_reaper_ends_idle_sessions_and_those_whose_creator_may_no_longer_write(
    api: Api, app, settings
):
    rt = app.state.runtime
    sid = create(api, path="idle.bin", size=2 * MiB).json()["id"]
    assert put(api, sid, 1, b"i" * MiB).status_code == 200
    assert staging(settings, sid).is_dir()
    assert uploads.reap(rt) == 0  # alive
    later = utcnow() + timedelta(seconds=settings.upload_session_expiry_seconds + 1)
    assert uploads.reap(rt, now=later) == 1
    assert usage(api) == (0, 0) and not staging(settings, sid).exists()
    assert api.call("owner", "GET", f"{U}/{sid}").status_code == 404
    # a data scientist's session into Resources ends when they leave the project
    resources = "/api/projects/demo/datasets/Resources/uploads"
    reply = api.call("scientist", "POST", resources, json={"path": "s.py", "size": 5})
    assert reply.status_code == 201, reply.text
    sid = reply.json()["id"]
    member = f"/api/projects/demo/members/{Api.email('scientist')}"
    assert api.call("owner", "DELETE", member).status_code == 204
    assert uploads.reap(rt) == 1
    assert usage(api) == (0, 0) and rows(app, "upload_sessions") == 0
    # deleting the dataset ends a session at once (its reservation goes with it)
    assert api.call("owner", "POST", "/api/projects/demo/datasets", json={"name": "tmp"})
    tmp = "/api/projects/demo/datasets/tmp/uploads"
    sid = api.call("owner", "POST", tmp, json={"path": "t", "size": MiB}).json()["id"]
    assert api.call("owner", "PUT", f"{tmp}/{sid}/chunks/1", content=b"t" * MiB).status_code == 200
    assert api.call("owner", "DELETE", "/api/projects/demo/datasets/tmp").status_code == 204
    assert usage(api) == (0, 0)
    assert uploads.reap(rt) == 1
    assert not staging(settings, sid).exists() and rows(app, "upload_sessions") == 0
    # a deleted account's session and a deleted project's session end too
    reply = api.call("scientist", "POST", resources, json={"path": "s.py", "size": 5})
    assert reply.status_code == 404  # no longer a member
    api.add_member("owner", "demo", "scientist", "data_scientist")
    sid = api.call("scientist", "POST", resources, json={"path": "s.py", "size": 5}).json()["id"]
    assert api.call("admin", "DELETE", f"/api/users/{Api.email('scientist')}").status_code == 204
    assert uploads.reap(rt) == 1 and usage(api) == (0, 0)
    assert not staging(settings, sid).exists()
    assert api.call("owner", "POST", "/api/projects", json={"name": "gone"}).status_code == 201
    gone = "/api/projects/gone/datasets/Logs/uploads"
    sid = api.call("owner", "POST", gone, json={"path": "g", "size": 5}).json()["id"]
    assert api.call("owner", "PUT", f"{gone}/{sid}/chunks/1", content=b"g" * 5).status_code == 200
    assert api.call("owner", "DELETE", "/api/projects/gone").status_code == 204
    assert rows(app, "upload_sessions") == rows(app, "upload_reservations") == 0
    assert uploads.reap(rt) == 0


def test_sessions_on_webhdfs_stage_in_the_project_and_publish_atomically(tmp_path, db_url):
    """The same flow with the HDFS backend (the WebHDFS fake): chunks staged under the
    project's hidden session directory, the file published by RENAME, staging removed."""
    with serve(FakeHdfs()) as fake:
        settings = test_settings(
            tmp_path / "data",
            db_url,
            storage_backend="webhdfs",
            webhdfs_url=fake.namenode_url,
            **QUIET,
        )
        app = create_app(settings)
        try:
            with TestClient(app, raise_server_exceptions=False) as client:
                api = Api.with_actors(client)
                data = payload(2 * MiB + 3)
                sid = create(api, path="h/d.bin", size=len(data)).json()["id"]
                chunks = parts(data, MiB, 3)
                for n in (3, 1, 2, 2):
                    assert put(api, sid, n, chunks[n]).status_code == 200
                hidden = app.state.runtime.backends.storage
                assert hidden.stat("demo", uploads.staging_area(sid), ("2",)).size == MiB
                done = api.call("owner", "POST", f"{U}/{sid}/complete")
                assert done.status_code == 201, done.text
                assert api.download("owner", "demo", "Logs", "h/d.bin").content == data
                assert hidden.stat("demo", uploads.staging_area(sid), ()) is None
                assert usage(api) == (len(data), 1)
                listing = api.call("owner", "GET", "/api/projects/demo/datasets/Logs/files/h")
                assert [e["name"] for e in listing.json()["items"]] == ["d.bin"]
        finally:
            app.state.runtime.engine.dispose()
