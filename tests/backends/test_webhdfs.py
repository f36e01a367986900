"""WebHdfsStorage against the WebHDFS contract fake, and EmbeddedStorage against the same tests.

The StorageBackend tests take the `storage` fixture, which runs each of them on both
implementations: that is the proof that the cluster backend can replace the local one
without the service noticing. The rest covers what only the HDFS backend has: the
two-step streamed create and open, RemoteException mapping, a dead or hung NameNode or
DataNode, ownership, ACL sharing, quotas and TLS with the platform CA's certificates.
What the fake cannot prove (a real NameNode's behaviour) is listed in docs/backends-hdfs.md.
"""

from __future__ import annotations

import random
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from hopsworks_api.backends.errors import BackendUnavailable
from hopsworks_api.backends.storage import StorageBackend
from hopsworks_api.backends.storage.embedded import EmbeddedStorage
from hopsworks_api.backends.storage.webhdfs import (
    ContentSummary,
    UnsupportedOperation,
    WebHdfsStorage,
)
from hopsworks_api.errors import BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge
from hopsworks_api.pki.ca import CertificateAuthority
from hopsworks_api.pki.keys import plain_key
from tests.support.webhdfs_fake import FakeHdfs, MiB, free_port, serve

CHUNK = 64 * 1024


@pytest.fixture(scope="module")
def hdfs_servers() -> Iterator[FakeHdfs]:
    with serve(FakeHdfs()) as fake:
        yield fake


@pytest.fixture
def fake(hdfs_servers: FakeHdfs) -> FakeHdfs:
    hdfs_servers.reset()
    return hdfs_servers


@pytest.fixture
def hdfs(fake: FakeHdfs) -> Iterator[WebHdfsStorage]:
    with WebHdfsStorage(fake.namenode_url, superuser="hdfs", read_timeout=10) as storage:
        yield storage


@pytest.fixture(params=["local", "webhdfs"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> StorageBackend:
    if request.param == "local":
        return EmbeddedStorage(tmp_path / "storage")
    return request.getfixturevalue("hdfs")


@pytest.fixture
def demo(storage: StorageBackend) -> StorageBackend:
    """Project `demo` with dataset `data`, created as the service creates them."""
    storage.create_project("demo")
    storage.create_dataset("demo", "data")
    return storage


def upload(storage: StorageBackend, path: tuple[str, ...], data: bytes) -> int | None:
    writer = storage.begin_write("demo", "data", path)
    try:
        for start in range(0, len(data), CHUNK):
            writer.write(data[start : start + CHUNK])
        return writer.commit()
    except BaseException:
        writer.abort()
        raise


def read(storage: StorageBackend, path: tuple[str, ...], chunk_size: int = CHUNK) -> bytes:
    return b"".join(storage.open_read("demo", "data", path, chunk_size))


def names(storage: StorageBackend, path: tuple[str, ...] = ()) -> list[tuple[str, bool, int]]:
    return [(e.name, e.is_dir, e.size) for e in storage.list_dir("demo", "data", path)]


# -- the StorageBackend Protocol, on both implementations ---------------------------------
def test_projects_and_datasets_are_created_idempotently(storage: StorageBackend) -> None:
    assert not storage.project_exists("demo")
    for _ in range(2):
        storage.create_project("demo")
        storage.create_dataset("demo", "data")
    assert storage.project_exists("demo")
    root = storage.stat("demo", "data", ())
    assert root is not None and root.is_dir and root.name == "data"
    assert storage.list_dir("demo", "data", ()) == []


def test_an_upload_is_invisible_until_commit(demo: StorageBackend) -> None:
    writer = demo.begin_write("demo", "data", ("a.csv",))
    writer.write(b"id,value\n")
    writer.write(b"1,2\n")
    assert writer.written == 13
    assert demo.stat("demo", "data", ("a.csv",)) is None
    assert names(demo) == []
    assert writer.commit() is None
    info = demo.stat("demo", "data", ("a.csv",))
    assert info is not None and (info.name, info.is_dir, info.size) == ("a.csv", False, 13)
    assert names(demo) == [("a.csv", False, 13)]
    assert read(demo, ("a.csv",)) == b"id,value\n1,2\n"


def test_multi_mib_files_stream_up_and_down(demo: StorageBackend) -> None:
    data = random.Random(7).randbytes(6 * MiB + 123)
    assert upload(demo, ("blob.bin",), data) is None
    chunks = list(demo.open_read("demo", "data", ("blob.bin",), 256 * 1024))
    assert len(chunks) == 25 and all(len(c) == 256 * 1024 for c in chunks[:-1])
    assert b"".join(chunks) == data
    assert demo.usage("demo", "data") == (len(data), 1)


def test_replacing_a_file_returns_the_size_it_replaced(demo: StorageBackend) -> None:
    assert upload(demo, ("a.txt",), b"0123456789") is None
    assert upload(demo, ("a.txt",), b"new") == 10
    assert read(demo, ("a.txt",)) == b"new"
    assert demo.usage("demo") == (3, 1)
    assert names(demo) == [("a.txt", False, 3)]


def test_empty_files_and_names_that_need_encoding(demo: StorageBackend) -> None:
    path = ("raw data", "2024 ü", "a b+c%20#?&=.csv")
    assert upload(demo, path, b"") is None
    assert upload(demo, ("raw data", "ünï code.txt"), "ü".encode()) is None
    assert names(demo, ("raw data",)) == [("2024 ü", True, 0), ("ünï code.txt", False, 2)]
    assert names(demo, path[:2]) == [("a b+c%20#?&=.csv", False, 0)]
    assert read(demo, path) == b""


def test_an_aborted_upload_leaves_no_trace(demo: StorageBackend) -> None:
    writer = demo.begin_write("demo", "data", ("dir", "part.bin"))
    writer.write(b"x" * 300_000)
    writer.abort()
    writer.abort()
    assert demo.stat("demo", "data", ("dir", "part.bin")) is None
    assert names(demo) == []
    assert demo.usage("demo") == (0, 0)


def test_commit_refuses_to_clobber_a_directory_or_to_pass_through_a_file(
    demo: StorageBackend,
) -> None:
    upload(demo, ("dir", "inner.txt"), b"keep")
    upload(demo, ("file.txt",), b"keep")
    before = (names(demo), demo.usage("demo"))
    with pytest.raises(Conflict):
        upload(demo, ("dir",), b"would replace a directory")
    with pytest.raises(Conflict):
        upload(demo, ("file.txt", "below.txt"), b"a file cannot hold files")
    assert (names(demo), demo.usage("demo")) == before


def test_writing_into_a_dataset_without_storage_is_not_found(demo: StorageBackend) -> None:
    with pytest.raises(NotFound):
        demo.begin_write("demo", "missing", ("a.txt",))


def test_missing_paths(demo: StorageBackend) -> None:
    upload(demo, ("file.txt",), b"x")
    assert demo.stat("demo", "data", ("nope",)) is None
    assert demo.stat("demo", "data", ("file.txt", "under")) is None
    assert demo.stat("demo", "missing", ()) is None
    with pytest.raises(NotFound):
        demo.list_dir("demo", "data", ("nope",))
    with pytest.raises(NotFound):
        demo.list_dir("demo", "data", ("file.txt",))


def test_delete_path_reports_what_it_held(demo: StorageBackend) -> None:
    upload(demo, ("dir", "a.bin"), b"a" * 100)
    upload(demo, ("dir", "sub", "b.bin"), b"b" * 20)
    upload(demo, ("dir", "sub", "c.bin"), b"")
    upload(demo, ("d.bin",), b"d" * 7)
    assert demo.delete_path("demo", "data", ("dir",)) == (120, 3)
    assert demo.delete_path("demo", "data", ("d.bin",)) == (7, 1)
    with pytest.raises(NotFound):
        demo.delete_path("demo", "data", ("dir",))
    assert names(demo) == []
    assert demo.usage("demo") == (0, 0)


def test_usage_of_projects_and_datasets(demo: StorageBackend) -> None:
    demo.create_dataset("demo", "other")
    upload(demo, ("a",), b"a" * 10)
    upload(demo, ("b", "c"), b"c" * 5)
    writer = demo.begin_write("demo", "other", ("d",))
    writer.write(b"d" * 3)
    writer.commit()
    assert demo.usage("demo", "data") == (15, 2)
    assert demo.usage("demo", "other") == (3, 1)
    assert demo.usage("demo") == (18, 3)
    assert demo.usage("demo", "missing") == (0, 0)
    assert demo.usage("nobody") == (0, 0)


def test_a_trashed_dataset_can_be_restored_until_purged(demo: StorageBackend) -> None:
    upload(demo, ("a.txt",), b"precious")
    trashed = demo.trash_dataset("demo", "data")
    assert demo.stat("demo", "data", ()) is None
    assert demo.usage("demo") == (0, 0)
    demo.restore(trashed)
    assert read(demo, ("a.txt",)) == b"precious"
    trashed = demo.trash_dataset("demo", "data")
    demo.purge(trashed)
    demo.restore(trashed)  # too late: nothing comes back, nothing breaks
    assert demo.stat("demo", "data", ()) is None
    assert demo.usage("demo") == (0, 0)
    nothing = demo.trash_dataset("demo", "never-existed")
    demo.restore(nothing)
    demo.purge(nothing)


def test_projects_trash_restore_purge_and_delete(demo: StorageBackend) -> None:
    upload(demo, ("a.txt",), b"abc")
    trashed = demo.trash_project("demo")
    assert not demo.project_exists("demo")
    demo.restore(trashed)
    assert demo.project_exists("demo") and read(demo, ("a.txt",)) == b"abc"
    demo.purge(demo.trash_project("demo"))
    assert not demo.project_exists("demo")
    demo.create_project("demo")
    demo.create_dataset("demo", "data")
    demo.delete_dataset("demo", "data")
    assert demo.stat("demo", "data", ()) is None
    demo.delete_project("demo")
    demo.delete_project("demo")
    assert not demo.project_exists("demo")


# -- WebHDFS specifics: streaming over the two-step protocol -------------------------------
@pytest.fixture
def hdemo(hdfs: WebHdfsStorage) -> WebHdfsStorage:
    hdfs.create_project("demo")
    hdfs.create_dataset("demo", "data")
    return hdfs


def test_upload_bytes_reach_the_datanode_before_commit(
    fake: FakeHdfs, hdemo: WebHdfsStorage
) -> None:
    writer = hdemo.begin_write("demo", "data", ("big.bin",))
    for _ in range(128):
        writer.write(b"z" * CHUNK)  # 8 MiB
    # all but what the bounded hand-over queue holds is already on the DataNode
    floor = 8 * MiB - (hdemo.upload_buffer_chunks + 1) * CHUNK
    deadline = time.monotonic() + 10
    while fake.bytes_received < floor and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake.bytes_received >= floor
    assert hdemo.stat("demo", "data", ("big.bin",)) is None
    assert writer.commit() is None
    assert fake.bytes_received == 8 * MiB
    assert [r for r in fake.requests if r[2] == "CREATE"] == [
        ("namenode", "PUT", "CREATE"),
        ("datanode", "PUT", "CREATE"),
    ]


def test_downloads_are_pulled_chunk_by_chunk_from_the_datanode(
    fake: FakeHdfs, hdemo: WebHdfsStorage
) -> None:
    upload(hdemo, ("big.bin",), b"q" * (2 * MiB))
    chunks = hdemo.open_read("demo", "data", ("big.bin",), CHUNK)
    assert next(chunks) == b"q" * CHUNK
    chunks.close()  # type: ignore[attr-defined]
    assert list(chunks) == []
    assert ("datanode", "GET", "OPEN") in fake.requests


def test_opening_what_is_not_a_file_is_not_found(hdemo: WebHdfsStorage) -> None:
    upload(hdemo, ("dir", "x"), b"x")
    for path in (("nope",), ("dir",), ("dir", "x", "below")):
        with pytest.raises(NotFound):
            hdemo.open_read("demo", "data", path)


def test_names_hdfs_refuses_are_bad_requests_and_leave_nothing(hdemo: WebHdfsStorage) -> None:
    with pytest.raises(BadRequest) as info:
        upload(hdemo, ("a:b.csv",), b"x")
    assert info.value.code == "bad_path"
    assert hdemo.usage("demo") == (0, 0) and names(hdemo) == []


def test_restore_never_merges_into_a_directory_created_meanwhile(hdemo: WebHdfsStorage) -> None:
    trashed = hdemo.trash_dataset("demo", "data")
    hdemo.create_dataset("demo", "data")
    with pytest.raises(Conflict):
        hdemo.restore(trashed)
    hdemo.purge(trashed)


# -- errors and failures ---------------------------------------------------------------
def _remote(status: int, exception: str, message: str = "boom") -> httpx.MockTransport:
    body = {
        "RemoteException": {
            "exception": exception,
            "javaClassName": f"x.{exception}",
            "message": message,
        }
    }
    return httpx.MockTransport(lambda request: httpx.Response(status, json=body))


@pytest.mark.parametrize(
    ("status", "exception", "message", "expected"),
    [
        (404, "FileNotFoundException", "File does not exist: /x", NotFound),
        (403, "FileAlreadyExistsException", "/x already exists", Conflict),
        (403, "ParentNotDirectoryException", "/x (is not a directory)", Conflict),
        (403, "AccessControlException", "Permission denied: user=x", Forbidden),
        (403, "DSQuotaExceededException", "The DiskSpace quota ...", PayloadTooLarge),
        (403, "NSQuotaExceededException", "The NameSpace quota ...", PayloadTooLarge),
        (403, "QuotaExceededException", "quota", PayloadTooLarge),
        (400, "InvalidPathException", "Invalid path name", BadRequest),
        (
            400,
            "IllegalArgumentException",
            'Invalid value for webhdfs parameter "op"',
            UnsupportedOperation,
        ),
        (
            403,
            "StandbyException",
            "Operation category WRITE is not supported in state standby",
            BackendUnavailable,
        ),
        (403, "SafeModeException", "Name node is in safe mode.", BackendUnavailable),
        (403, "IOException", "unexpected", BackendUnavailable),
        (401, "SecurityException", "Failed to obtain user group information", BackendUnavailable),
        (500, "RuntimeException", "NullPointerException", BackendUnavailable),
    ],
)
def test_remote_exceptions_map_to_platform_errors(
    status: int, exception: str, message: str, expected: type[Exception]
) -> None:
    with (
        WebHdfsStorage(
            "http://namenode.invalid:9870", transport=_remote(status, exception, message)
        ) as storage,
        pytest.raises(expected) as info,
    ):
        storage.create_dataset("demo", "data")
    assert type(info.value) is expected
    if isinstance(info.value, BackendUnavailable):
        assert info.value.system == "hdfs" and info.value.status_code == 503


@pytest.mark.parametrize(
    "transport",
    [
        httpx.MockTransport(lambda request: httpx.Response(502, text="<html>Bad Gateway</html>")),
        httpx.MockTransport(lambda request: httpx.Response(200, text="not json")),
    ],
)
def test_answers_that_are_not_webhdfs_are_the_system_failing(
    transport: httpx.MockTransport,
) -> None:
    storage = WebHdfsStorage("http://namenode.invalid:9870", transport=transport)
    with storage, pytest.raises(BackendUnavailable):
        storage.create_dataset("demo", "data")


def _lost_refusal(space_quota: int, consumed: int) -> httpx.MockTransport:
    """A NameNode, and a DataNode whose refusal is lost: the connection just breaks."""

    def handler(request: httpx.Request) -> httpx.Response:
        op = request.url.params.get("op")
        if request.url.host == "datanode.invalid":
            raise httpx.ReadError("connection reset by peer")
        if op == "GETFILESTATUS":
            kind = "FILE" if ".hops-upload-" in request.url.path else "DIRECTORY"
            status = {"type": kind, "length": 0, "blockSize": MiB, "replication": 3}
            return httpx.Response(200, json={"FileStatus": status})
        if op == "CREATE":
            location = (
                "http://datanode.invalid:9864/webhdfs/v1/x?op=CREATE&namenoderpcaddress=nn:8020"
            )
            return httpx.Response(200, json={"Location": location})
        if op == "GETCONTENTSUMMARY":
            summary = {"directoryCount": 2, "fileCount": 1, "length": consumed, "quota": -1}
            summary |= {"spaceConsumed": consumed, "spaceQuota": space_quota}
            return httpx.Response(200, json={"ContentSummary": summary})
        return httpx.Response(200, json={"boolean": True})

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    ("space_quota", "consumed", "expected"),
    [
        (10 * MiB, 8 * MiB, PayloadTooLarge),  # less than one block x 3 replicas left
        (100 * MiB, 8 * MiB, BackendUnavailable),  # room enough: the network broke
        (-1, 8 * MiB, BackendUnavailable),
    ],
)
def test_a_lost_datanode_refusal_is_diagnosed_from_the_quota(
    space_quota: int, consumed: int, expected: type[Exception]
) -> None:
    storage = WebHdfsStorage(
        "http://namenode.invalid:9870", transport=_lost_refusal(space_quota, consumed)
    )
    with storage, pytest.raises(expected) as info:
        upload(storage, ("a.bin",), b"a" * 100)
    assert type(info.value) is expected


STORAGE_CALLS = {
    "create_project": lambda s: s.create_project("demo"),
    "project_exists": lambda s: s.project_exists("demo"),
    "stat": lambda s: s.stat("demo", "data", ("a",)),
    "list_dir": lambda s: s.list_dir("demo", "data", ()),
    "begin_write": lambda s: s.begin_write("demo", "data", ("a",)),
    "open_read": lambda s: s.open_read("demo", "data", ("a",)),
    "delete_path": lambda s: s.delete_path("demo", "data", ("a",)),
    "usage": lambda s: s.usage("demo"),
    "trash_dataset": lambda s: s.trash_dataset("demo", "data"),
    "set_quota": lambda s: s.set_quota("demo", 1, 1),
}


@pytest.mark.parametrize("call", STORAGE_CALLS.values(), ids=STORAGE_CALLS.keys())
def test_a_namenode_that_is_down_is_backend_unavailable_at_once(call) -> None:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    storage = WebHdfsStorage(f"http://127.0.0.1:{free_port()}", connect_timeout=2)
    with storage, pytest.raises(BackendUnavailable) as info:
        call(storage)
    assert time.monotonic() - started < 3
    assert info.value.system == "hdfs" and "NameNode" in info.value.message


def test_a_namenode_that_never_answers_times_out() -> None:
    with socket.socket() as listener:  # accepts connections (backlog), never reads them
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        started = time.monotonic()
        storage = WebHdfsStorage(url, connect_timeout=1, read_timeout=0.5)
        with storage, pytest.raises(BackendUnavailable, match="did not answer in time"):
            storage.project_exists("demo")
        assert time.monotonic() - started < 3


def test_a_dead_datanode_fails_uploads_and_downloads_cleanly(
    fake: FakeHdfs, hdemo: WebHdfsStorage
) -> None:
    upload(hdemo, ("kept.txt",), b"kept")
    fake.datanode_override = f"http://127.0.0.1:{free_port()}"
    writer = hdemo.begin_write("demo", "data", ("new.txt",))
    with pytest.raises(BackendUnavailable, match="DataNode"):
        writer.write(b"x" * 1000)
        writer.commit()
    writer.abort()
    with pytest.raises(BackendUnavailable, match="DataNode"):
        hdemo.open_read("demo", "data", ("kept.txt",))
    fake.datanode_override = None
    assert names(hdemo) == [("kept.txt", False, 4)]
    assert read(hdemo, ("kept.txt",)) == b"kept"


def test_a_tenant_identity_is_refused_where_it_has_no_rights(
    fake: FakeHdfs, hdemo: WebHdfsStorage
) -> None:
    with WebHdfsStorage(fake.namenode_url, superuser="other__mallory") as mallory:
        with pytest.raises(Forbidden):
            mallory.create_dataset("demo", "stolen")
        with pytest.raises(Forbidden):
            mallory.list_dir("demo", "data", ())


# -- ownership, permissions and ACL sharing --------------------------------------------
def test_owner_and_permission(hdemo: WebHdfsStorage) -> None:
    hdemo.set_owner(("demo",), "demo__alice", "demo")
    hdemo.set_owner(("demo", "data"), "demo__alice", "demo__data")
    hdemo.set_owner(("demo", "data"), None, "demo__data")  # idempotent, one field
    hdemo.set_permission(("demo", "data"), 0o1770)
    hdemo.set_permission(("demo",), "750")
    project, dataset = hdemo.acl_status(("demo",)), hdemo.acl_status(("demo", "data"))
    assert (project.owner, project.group, project.permission) == ("demo__alice", "demo", "750")
    assert (dataset.owner, dataset.group, dataset.permission) == (
        "demo__alice",
        "demo__data",
        "1770",
    )
    assert dataset.sticky and dataset.entries == ()
    for bad in (
        lambda: hdemo.set_permission(("demo",), "2770"),
        lambda: hdemo.set_owner(("demo",), None, None),
    ):
        with pytest.raises(BadRequest):
            bad()
    with pytest.raises(BadRequest):
        hdemo.set_owner(("demo", ".."), "x", None)
    with pytest.raises(NotFound):
        hdemo.set_permission(("demo", "missing"), "700")


BASE_DEFAULTS = ("default:user::rwx", "default:group::rwx")


def test_grant_and_revoke_leave_exactly_the_expected_acl_entries(hdemo: WebHdfsStorage) -> None:
    """The entries are what HDFS's AclTransformation produces (Permissions Guide): the
    mask is recomputed, default base entries are copied from the mode bits, and a revoke
    removes the group's entries but keeps the base entries HDFS derived."""
    dataset = ("demo", "data")
    for _ in range(2):
        hdemo.grant_group("demo", "data", "demo__data__read", writable=False)
    assert hdemo.acl_status(dataset).entries == (
        "group::rwx",
        "group:demo__data__read:r-x",
        *BASE_DEFAULTS,
        "default:group:demo__data__read:r-x",
        "default:mask::rwx",
        "default:other::---",
    )
    hdemo.grant_group("demo", "data", "other__data", writable=True)
    hdemo.grant_group("demo", "data", "demo__data__read", writable=True)  # flip converges
    assert hdemo.acl_status(dataset).entries == (
        "group::rwx",
        "group:demo__data__read:rwx",
        "group:other__data:rwx",
        *BASE_DEFAULTS,
        "default:group:demo__data__read:rwx",
        "default:group:other__data:rwx",
        "default:mask::rwx",
        "default:other::---",
    )
    assert hdemo.share_groups("demo", "data") == {"demo__data__read": True, "other__data": True}
    for _ in range(2):
        hdemo.revoke_group("demo", "data", "demo__data__read")
    assert hdemo.acl_status(dataset).entries == (
        "group::rwx",
        "group:other__data:rwx",
        *BASE_DEFAULTS,
        "default:group:other__data:rwx",
        "default:mask::rwx",
        "default:other::---",
    )
    hdemo.revoke_group("demo", "data", "other__data")
    status = hdemo.acl_status(dataset)
    assert status.entries == (
        "group::rwx",
        *BASE_DEFAULTS,
        "default:mask::rwx",
        "default:other::---",
    )
    assert status.permission == "770"
    assert hdemo.share_groups("demo", "data") == {}
    with pytest.raises(BadRequest):
        hdemo.grant_group("demo", "data", "bad:name", writable=False)
    with pytest.raises(NotFound):
        hdemo.grant_group("demo", "missing", "g", writable=False)


def test_a_grant_reaches_existing_content_and_new_children_inherit_it(
    fake: FakeHdfs, hdemo: WebHdfsStorage
) -> None:
    upload(hdemo, ("old", "old.csv"), b"old")
    hdemo.grant_group("demo", "data", "demo__data__read", writable=False)
    assert hdemo.acl_status(("demo", "data", "old", "old.csv")).entries == (
        "group::rw-",
        "group:demo__data__read:r--",
    )
    assert "default:group:demo__data__read:r-x" in hdemo.acl_status(("demo", "data", "old")).entries
    upload(hdemo, ("new", "new.csv"), b"new")
    created = hdemo.acl_status(("demo", "data", "new", "new.csv"))
    assert created.entries == ("group::rwx", "group:demo__data__read:r-x")
    assert created.permission == "660"  # the create mode filtered the inherited mask to rw-

    fake.groups = {"other__alice": {"demo__data__read"}}
    with WebHdfsStorage(fake.namenode_url, superuser="other__alice") as alice:
        assert b"".join(alice.open_read("demo", "data", ("new", "new.csv"))) == b"new"
        assert b"".join(alice.open_read("demo", "data", ("old", "old.csv"))) == b"old"
        with pytest.raises(Forbidden):
            writer = alice.begin_write("demo", "data", ("mine.csv",))
            writer.write(b"read-only share")
            writer.commit()
        hdemo.revoke_group("demo", "data", "demo__data__read")
        with pytest.raises(Forbidden):
            alice.open_read("demo", "data", ("new", "new.csv"))


# -- quotas ----------------------------------------------------------------------------
def test_quotas_are_set_reported_and_cleared(hdemo: WebHdfsStorage) -> None:
    upload(hdemo, ("a.bin",), b"a" * 1000)
    hdemo.set_quota("demo", 64 * MiB, 100)
    hdemo.set_quota("demo", 64 * MiB, 100)
    assert hdemo.content_summary("demo") == ContentSummary(
        bytes=1000, files=1, dirs=2, space_quota=64 * MiB, namespace_quota=100
    )
    hdemo.set_quota("demo", None, None)
    assert hdemo.content_summary("demo")[3:] == (None, None)
    for space, count in ((-5, None), (None, 0)):
        with pytest.raises(BadRequest):
            hdemo.set_quota("demo", space, count)
    with pytest.raises(NotFound):
        hdemo.content_summary("nobody")


def test_a_space_quota_stops_an_upload_midstream(fake: FakeHdfs, hdemo: WebHdfsStorage) -> None:
    fake.block_size = 1 * MiB
    upload(hdemo, ("kept.bin",), b"k" * MiB)
    hdemo.set_quota("demo", 4 * MiB, None)
    writer = hdemo.begin_write("demo", "data", ("big.bin",))
    with pytest.raises(PayloadTooLarge, match="DiskSpace quota"):
        for _ in range(128):
            writer.write(b"b" * CHUNK)
    assert writer.written < 8 * MiB
    writer.abort()
    assert names(hdemo) == [("kept.bin", False, MiB)]
    assert hdemo.usage("demo") == (MiB, 1)


def test_a_space_quota_smaller_than_a_block_refuses_even_tiny_files(
    fake: FakeHdfs, hdemo: WebHdfsStorage
) -> None:
    """HDFS reserves a whole block (block size x replication) before writing one byte."""
    fake.block_size, fake.replication = 1 * MiB, 3
    hdemo.set_quota("demo", 2 * MiB, None)
    with pytest.raises(PayloadTooLarge):
        upload(hdemo, ("tiny.txt",), b"tiny")
    assert upload(hdemo, ("empty.txt",), b"") is None  # no block, no charge
    assert names(hdemo) == [("empty.txt", False, 0)]


def test_a_namespace_quota_counts_files_and_directories(hdemo: WebHdfsStorage) -> None:
    used = hdemo.content_summary("demo")
    hdemo.set_quota("demo", None, used.files + used.dirs + 2)
    upload(hdemo, ("one",), b"1")
    upload(hdemo, ("two",), b"2")
    with pytest.raises(PayloadTooLarge):
        upload(hdemo, ("three",), b"3")
    with pytest.raises(PayloadTooLarge):
        hdemo.create_dataset("demo", "more")
    with pytest.raises(PayloadTooLarge):  # a replacement streams into a temporary name
        upload(hdemo, ("two",), b"22")
    trashed = hdemo.trash_dataset("demo", "data")  # moving aside needs no new name
    hdemo.restore(trashed)
    assert [n for n, _d, _s in names(hdemo)] == ["one", "two"]
    assert read(hdemo, ("two",)) == b"2" and hdemo.usage("demo") == (2, 2)


def test_set_quota_on_a_namenode_without_it_says_why(fake: FakeHdfs, hdemo: WebHdfsStorage) -> None:
    fake.supports_setquota = False
    with pytest.raises(UnsupportedOperation, match="HDFS-8631") as info:
        hdemo.set_quota("demo", MiB, None)
    assert info.value.status_code == 503 and info.value.system == "hdfs"


# -- TLS with the platform CA ----------------------------------------------------------
def _write_identity(
    ca: CertificateAuthority, directory: Path, name: str, server: bool
) -> tuple[str, str]:
    key = ca.new_key()
    cert, issuer = ca.issue(
        common_name=name,
        organization="Hopsworks",
        public_key=key.public_key(),
        days=1,
        client=not server,
        server=server,
        ip_addresses=["127.0.0.1"] if server else [],
    )
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + ca.chain_for(issuer))
    key_path.write_bytes(plain_key(key))
    return str(cert_path), str(key_path)


def test_tls_with_host_certificates_from_the_platform_ca(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path / "ca", b"test-passphrase")
    ca.init()
    root = tmp_path / "root.pem"
    root.write_bytes(ca.root_pem())
    server_cert, server_key = _write_identity(ca, tmp_path, "namenode", server=True)
    client = _write_identity(ca, tmp_path, "hopsworks_api", server=False)
    tls = {
        "ssl_certfile": server_cert,
        "ssl_keyfile": server_key,
        "ssl_ca_certs": str(root),
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
    }
    with serve(FakeHdfs(), tls=tls) as fake:
        assert fake.namenode_url.startswith("https://")
        with WebHdfsStorage(fake.namenode_url, verify=str(root), cert=client) as storage:
            storage.create_project("demo")
            storage.create_dataset("demo", "data")
            writer = storage.begin_write("demo", "data", ("a.txt",))
            writer.write(b"over tls")
            writer.commit()
            assert b"".join(storage.open_read("demo", "data", ("a.txt",))) == b"over tls"
        for verify, cert in ((str(root), None), (True, client)):  # no client cert; unknown CA
            storage = WebHdfsStorage(fake.namenode_url, verify=verify, cert=cert)
            with storage, pytest.raises(BackendUnavailable):
                storage.project_exists("demo")


def test_share_groups_follow_the_dataset_through_trash_and_restore(demo: StorageBackend) -> None:
    """Both implementations keep a grant on the dataset itself (an ACL / a record inside the
    directory): it converges on repeat, travels with a trashed dataset and comes back."""
    for _ in range(2):
        demo.grant_group("demo", "data", "partner", writable=False)
    demo.grant_group("demo", "data", "partner", writable=True)
    assert demo.share_groups("demo", "data") == {"partner": True}
    assert [e.name for e in demo.list_dir("demo", "data", ())] == []
    assert demo.usage("demo", "data") == (0, 0)
    trashed = demo.trash_dataset("demo", "data")
    with pytest.raises(NotFound):
        demo.share_groups("demo", "data")
    demo.restore(trashed)
    assert demo.share_groups("demo", "data") == {"partner": True}
    demo.revoke_group("demo", "data", "partner")
    demo.revoke_group("demo", "data", "partner")
    assert demo.share_groups("demo", "data") == {}
    with pytest.raises(NotFound):
        demo.grant_group("demo", "missing", "partner", writable=False)
    with pytest.raises(BadRequest):
        demo.grant_group("demo", "data", "bad:name", writable=False)


# --- an upload belongs to the dataset it began in (issue 11) ----------------------------------


def _temp_exists(storage: StorageBackend, token: str) -> bool:
    if isinstance(storage, EmbeddedStorage):
        return (storage.uploads_dir / f".hops-upload-{token}").exists()
    assert isinstance(storage, WebHdfsStorage)
    return (
        storage._status(f"{storage._dataset_path('demo', 'data')}/.hops-upload-{token}") is not None
    )


def test_an_upload_never_lands_in_a_dataset_recreated_under_its_name(
    demo: StorageBackend,
) -> None:
    writer = demo.begin_write("demo", "data", ("dir", "late.bin"))
    writer.write(b"x" * 10)
    writer.seal()
    demo.delete_dataset("demo", "data")
    demo.create_dataset("demo", "data")
    with pytest.raises(NotFound):
        writer.commit()
    assert names(demo) == []
    assert demo.usage("demo") == (0, 0)


def test_an_upload_never_recreates_a_deleted_dataset(demo: StorageBackend) -> None:
    writer = demo.begin_write("demo", "data", ("dir", "late.bin"))
    writer.write(b"x" * 10)
    demo.delete_dataset("demo", "data")
    with pytest.raises(NotFound):
        writer.commit()
    assert demo.stat("demo", "data", ("dir",)) is None
    assert demo.usage("demo") == (0, 0)
    if isinstance(demo, EmbeddedStorage):
        assert demo.stat("demo", "data", ()) is None
    # HDFS creates missing parents when the DataNode creates the temporary file, so a
    # deletion between begin_write and the first bytes can leave an empty directory
    # behind there; nothing of the upload is in it (and the service's DB check refuses
    # the upload before storage is asked)


def test_the_temporary_file_of_a_dead_upload_can_be_discarded(demo: StorageBackend) -> None:
    token = "ab" * 16
    writer = demo.begin_write("demo", "data", ("a.bin",), token=token)
    writer.write(b"x" * 10)
    writer.seal()
    assert writer.token == token and _temp_exists(demo, token)
    demo.discard_upload("demo", "data", token)
    assert not _temp_exists(demo, token)
    demo.discard_upload("demo", "data", token)  # already gone: a no-op
    with pytest.raises(BadRequest):
        demo.discard_upload("demo", "data", "../../escape")


def test_both_backends_read_a_part_of_a_file_from_its_offset(storage: StorageBackend) -> None:
    storage.create_project("demo")
    storage.create_dataset("demo", "data")
    data = bytes(range(256)) * 1200  # 300 KiB
    writer = storage.begin_write("demo", "data", ("f.bin",))
    writer.write(data)
    writer.commit()

    def read(offset: int, length: int | None) -> list[bytes]:
        return list(storage.open_read("demo", "data", ("f.bin",), 64 * 1024, offset, length))

    for offset, length in ((0, None), (1000, None), (1000, 5000), (len(data) - 1, 1)):
        chunks = read(offset, length)
        end = len(data) if length is None else offset + length
        assert b"".join(chunks) == data[offset:end], (offset, length)
        assert all(len(chunk) <= 64 * 1024 for chunk in chunks)


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
