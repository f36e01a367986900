"""Real empty directories: made on both storage backends, listed, removed with what is in
them, never counted against the quota."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hopsworks_api.backends.storage import StorageBackend
from hopsworks_api.backends.storage.embedded import EmbeddedStorage
from hopsworks_api.backends.storage.webhdfs import WebHdfsStorage
from hopsworks_api.errors import Conflict, NotFound
from tests.support.api import Api
from tests.support.webhdfs_fake import FakeHdfs, serve

D = "/api/projects/demo/datasets"


@pytest.fixture(scope="module")
def hdfs_servers() -> Iterator[FakeHdfs]:
    with serve(FakeHdfs()) as fake:
        yield fake


@pytest.fixture(params=["local", "webhdfs"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StorageBackend]:
    if request.param == "local":
        yield EmbeddedStorage(tmp_path / "storage")
        return
    fake: FakeHdfs = request.getfixturevalue("hdfs_servers")
    fake.reset()
    with WebHdfsStorage(fake.namenode_url, superuser="hdfs", read_timeout=10) as hdfs:
        yield hdfs


def test_both_backends_make_list_and_remove_empty_directories(storage: StorageBackend) -> None:
    storage.create_project("demo")
    storage.create_dataset("demo", "data")
    storage.make_dir("demo", "data", ("a", "b", "c"))
    for path in (("a",), ("a", "b"), ("a", "b", "c")):
        info = storage.stat("demo", "data", path)
        assert info is not None and info.is_dir and info.size == 0, path
    assert [(e.name, e.is_dir) for e in storage.list_dir("demo", "data", ("a", "b"))] == [
        ("c", True)
    ]
    assert storage.list_dir("demo", "data", ("a", "b", "c")) == []
    with pytest.raises(Conflict) as exists:
        storage.make_dir("demo", "data", ("a", "b"))
    assert exists.value.code == "already_exists"
    writer = storage.begin_write("demo", "data", ("a", "f.txt"))
    writer.write(b"12345")
    writer.commit()
    with pytest.raises(Conflict):
        storage.make_dir("demo", "data", ("a", "f.txt"))
    with pytest.raises(Conflict):
        storage.make_dir("demo", "data", ("a", "f.txt", "under"))
    assert storage.usage("demo", "data") == (5, 1)  # a directory is no file
    assert storage.delete_path("demo", "data", ("a",)) == (5, 1)
    assert storage.list_dir("demo", "data", ()) == []
    with pytest.raises(NotFound):
        storage.make_dir("demo", "missing", ("x",))


def test_post_directories_makes_an_empty_directory_the_listing_shows(api: Api) -> None:
    reply = api.call("owner", "POST", f"{D}/Logs/directories/runs/2026/empty")
    assert reply.status_code == 201, reply.text
    assert reply.json() == {"dataset": "Logs", "path": "runs/2026/empty"}
    listing = api.call("scientist", "GET", f"{D}/Logs/files/runs/2026").json()
    assert [(e["name"], e["type"], e["size"]) for e in listing["items"]] == [("empty", "dir", 0)]
    assert api.call("scientist", "GET", f"{D}/Logs/files/runs/2026/empty").json()["items"] == []

    again = api.call("owner", "POST", f"{D}/Logs/directories/runs/2026/empty")
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_exists"
    assert api.upload("owner", "demo", "Logs", "runs/file.txt", b"x").status_code == 201
    on_file = api.call("owner", "POST", f"{D}/Logs/directories/runs/file.txt")
    assert on_file.status_code == 409 and on_file.json()["error"]["code"] == "already_exists"
    # an upload onto a directory is refused as before
    assert api.upload("owner", "demo", "Logs", "runs/2026/empty", b"x").status_code == 409

    # write permission as for an upload: data scientists into Resources, not into Logs
    assert api.call("scientist", "POST", f"{D}/Logs/directories/mine").status_code == 403
    assert api.call("scientist", "POST", f"{D}/Resources/directories/mine").status_code == 201
    assert api.call("outsider", "POST", f"{D}/Logs/directories/x").status_code == 404
    for bad in ("a%5Cb", ".hops-x"):
        assert api.call("owner", "POST", f"{D}/Logs/directories/{bad}").status_code == 400

    quota = api.call("owner", "GET", "/api/projects/demo/quotas").json()
    assert (quota["storage_bytes"]["usage"], quota["storage_files"]["usage"]) == (1, 1)
    assert api.call("owner", "DELETE", f"{D}/Logs/files/runs").status_code == 204
    assert api.call("owner", "GET", f"{D}/Logs/files").json()["items"] == []
    quota = api.call("owner", "GET", "/api/projects/demo/quotas").json()
    assert (quota["storage_bytes"]["usage"], quota["storage_files"]["usage"]) == (0, 0)

    feed = api.call("owner", "GET", "/api/projects/demo/activity", params={"limit": 500})
    made = [
        (e["target"], e["outcome"]) for e in feed.json()["items"] if e["action"] == "file.mkdir"
    ]
    assert ("Logs/runs/2026/empty", "ok") in made and ("Logs/mine", "denied") in made
