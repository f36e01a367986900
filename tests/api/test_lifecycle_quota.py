"""Quota that cannot be held hostage: a stalled upload gives its reservation back after
the idle timeout (408), a crashed one after the reaper finds it stale; a chunked body that
fits the free quota is accepted; replacing a file does not count as a new file."""

from __future__ import annotations

import socket
import threading
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text

from hopsworks_api.datasets import files
from hopsworks_api.db.base import utcnow
from hopsworks_api.users.models import User
from tests.api.test_quotas import set_quota, usage
from tests.support.api import Api
from tests.support.settings import test_settings

P = "/api/projects"
Q = f"{P}/demo/quotas"
MiB = 1024 * 1024
IDLE = 2.0
"""The server's idle timeout here: the stalled-upload test waits this long for the 408."""
WAIT = 60


@pytest.fixture
def settings(tmp_path, db_url):
    return test_settings(tmp_path / "data", db_url, upload_idle_timeout_seconds=IDLE)


def chunked(total: int, size: int = MiB):
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        yield b"c" * n
        sent += n


def test_a_chunked_upload_that_fits_the_free_quota_is_accepted(api: Api):
    set_quota(api, storage_bytes=10 * MiB)
    url = f"{P}/demo/datasets/Logs/files/"
    reply = api.call("owner", "PUT", url + "exact.bin", content=chunked(10 * MiB))
    assert reply.status_code == 201, reply.text
    assert usage(api) == (10 * MiB, 1)
    api.call("owner", "DELETE", url + "exact.bin")
    reply = api.call("owner", "PUT", url + "over.bin", content=chunked(10 * MiB + 1))
    assert reply.status_code == 413 and reply.json()["error"]["code"] == "quota_exceeded"
    assert usage(api) == (0, 0)


def test_replacing_a_file_is_not_a_new_file(api: Api):
    set_quota(api, storage_files=2)
    assert api.upload("owner", "demo", "Logs", "a", b"1").status_code == 201
    assert api.upload("owner", "demo", "Logs", "b", b"2").status_code == 201
    reply = api.upload("owner", "demo", "Logs", "a", b"replaced")
    assert reply.status_code == 201, reply.text
    url = f"{P}/demo/datasets/Logs/files/b"
    reply = api.call("owner", "PUT", url, content=chunked(3, 1))  # chunked, too
    assert reply.status_code == 201, reply.text
    assert api.download("owner", "demo", "Logs", "a").content == b"replaced"
    assert usage(api) == (len(b"replaced") + 3, 2)
    third = api.upload("owner", "demo", "Logs", "c", b"3")
    assert third.status_code == 413 and "at most 2 files" in third.json()["error"]["message"]
    assert usage(api) == (len(b"replaced") + 3, 2)


def test_a_stalled_upload_is_answered_408_and_gives_its_quota_back(
    api: Api, app, live_server, settings, monkeypatch
):
    set_quota(api, storage_bytes=10 * MiB)
    rt = app.state.runtime
    started, checked = threading.Event(), threading.Event()
    real = rt.backends.storage.begin_write

    def begin_write(*args, **kwargs):
        """Hold the stalled upload after it reserved its quota and before its idle clock
        starts (the view reads the body only after this returns), until the test has seen
        the quota held: no race with the timeout, however loaded the machine."""
        writer = real(*args, **kwargs)
        started.set()
        assert checked.wait(WAIT)
        return writer

    monkeypatch.setattr(rt.backends.storage, "begin_write", begin_write)
    address = urlsplit(live_server)
    request = (
        f"PUT {P}/demo/datasets/Logs/files/stalled.bin HTTP/1.1\r\n"
        f"Host: {address.netloc}\r\n"
        f"Authorization: Bearer {api.tokens['owner']}\r\n"
        f"Content-Length: {10 * MiB}\r\n\r\n"
    ).encode()
    with socket.create_connection((address.hostname, address.port), timeout=WAIT) as stalled:
        stalled.sendall(request + b"s" * 1024)  # then nothing more
        assert started.wait(WAIT)
        monkeypatch.undo()
        # the whole quota is held by the stalled upload meanwhile
        blocked = api.upload("scientist", "demo", "Resources", "other.bin", b"x" * MiB)
        checked.set()
        assert blocked.status_code == 413
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            data = stalled.recv(65536)
            if not data:
                break
            answer += data
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer[:300]
    assert b'"code":"upload_timeout"' in body.replace(b" ", b"")
    assert usage(api) == (0, 0)
    assert list((settings.storage_root / ".uploads").iterdir()) == []
    with app.state.runtime.engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM upload_reservations")).scalar() == 0
    reply = api.upload("scientist", "demo", "Resources", "other.bin", b"x" * (10 * MiB))
    assert reply.status_code == 201, reply.text


def test_reservations_of_a_crashed_upload_are_released_by_the_reaper(api: Api, app, settings):
    """A process that dies mid-upload leaves its reservation row and temporary file; the
    reaper releases both once the heartbeat is stale, and the upload can never land."""
    rt = app.state.runtime
    with rt.read_sessions() as session:
        owner = session.query(User).filter_by(email=Api.email("owner")).one()
    upload = files.begin_upload(
        rt, user=owner, project="demo", dataset="Logs", path="crash.bin", declared=3 * MiB
    )
    upload.write(b"z" * MiB)
    assert usage(api) == (3 * MiB, 1)
    assert len(list((settings.storage_root / ".uploads").iterdir())) == 1
    assert files.reap_abandoned_uploads(rt) == 0  # alive: its heartbeat is fresh
    later = utcnow() + timedelta(seconds=IDLE * (files.STALE_AFTER_IDLE_TIMEOUTS + 1))
    assert files.reap_abandoned_uploads(rt, now=later) == 1
    assert usage(api) == (0, 0)
    assert list((settings.storage_root / ".uploads").iterdir()) == []
    upload.write(b"z" * (2 * MiB))  # within what it had reserved: no quota step needed
    with pytest.raises(files.UploadTimeout):
        upload.finish()
    upload.abort()
    assert usage(api) == (0, 0)
    assert api.download("owner", "demo", "Logs", "crash.bin").status_code == 404
    assert files.reap_abandoned_uploads(rt, now=later) == 0
