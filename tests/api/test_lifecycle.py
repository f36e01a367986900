"""Nothing outlives its owner: a project or dataset deleted and re-created under the same
name starts empty, every way a share ends removes its grant in every system, and work in
flight when its dataset or project is deleted fails and leaves nothing behind."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import text

from hopsworks_api.backends.kafka.base import member_acls, share_acls
from hopsworks_api.errors import Unauthorized
from hopsworks_api.pki import service as pki_service
from hopsworks_api.projects import service as project_service
from tests.support.api import Api

P = "/api/projects"
WAIT = 60  # seconds: a bound on waiting for an event, never a synchronisation by sleep


def ok(reply: httpx.Response, status: int = 200) -> httpx.Response:
    assert reply.status_code == status, reply.text
    return reply


def usage(api: Api, project: str) -> tuple[int, int]:
    q = ok(api.call("admin", "GET", f"{P}/{project}/quotas")).json()
    return q["storage_bytes"]["usage"], q["storage_files"]["usage"]


def uploads_left(settings) -> list:
    return list((settings.storage_root / ".uploads").iterdir())


def reservations(app) -> int:
    with app.state.runtime.engine.connect() as conn:
        return conn.execute(text("SELECT COUNT(*) FROM upload_reservations")).scalar()


@pytest.fixture
def partner(api: Api) -> Api:
    """`demo` (owner) owns dataset `sales` with a file and topic `events`; the outsider
    owns project `partner`."""
    ok(api.call("outsider", "POST", P, json={"name": "partner"}), 201)
    ok(api.call("owner", "POST", f"{P}/demo/datasets", json={"name": "sales"}), 201)
    ok(api.upload("owner", "demo", "sales", "2026/q1.csv", b"region,amount\n"), 201)
    ok(api.call("owner", "POST", f"{P}/demo/topics", json={"name": "events"}), 201)
    return api


SHARES = {  # kind -> (offer path under demo, accept path under partner)
    "dataset": ("datasets/sales/shares", "shared/demo::sales"),
    "topic": ("topics/events/shares", "shared/topics/demo::events"),
    "hive": ("hive/shares", "shared/hive/demo"),
}


def share_all(api: Api, kinds=tuple(SHARES)) -> None:
    for kind in kinds:
        offer, accept = SHARES[kind]
        body = {"project": "partner", "permission": "editable"}
        ok(api.call("owner", "POST", f"{P}/demo/{offer}", json=body), 201)
        ok(api.call("outsider", "POST", f"{P}/partner/{accept}/accept"))


def grants(app) -> dict[str, bool]:
    """Whether partner still holds a grant on demo's data, per system."""
    b = app.state.runtime.backends
    storage = "partner" in (
        b.storage.share_groups("demo", "sales") if b.storage.project_exists("demo") else {}
    )
    acls = set(b.kafka.describe_acls("partner"))
    topic = bool(share_acls("demo", "events", "partner", "outsider", False) & acls)
    hive = any(who.startswith("partner__") for who in (b.hive.list_grants("demo") or {}))
    return {"dataset": storage, "topic": topic, "hive": hive}


# --- 3. share end = grant end --------------------------------------------------------------


def _owner_unshares(api: Api, kind: str) -> None:
    offer, _accept = SHARES[kind]
    ok(api.call("owner", "DELETE", f"{P}/demo/{offer}/partner"), 204)


def _receiver_rejects(api: Api, kind: str) -> None:
    _offer, accept = SHARES[kind]
    ok(api.call("outsider", "POST", f"{P}/partner/{accept}/reject"), 204)


def _receiver_leaves(api: Api, kind: str) -> None:
    ok(api.call("outsider", "DELETE", f"{P}/partner/datasets/demo::sales"), 204)


def _owner_project_deleted(api: Api, kind: str) -> None:
    ok(api.call("owner", "DELETE", f"{P}/demo"), 204)


def _target_project_deleted(api: Api, kind: str) -> None:
    ok(api.call("outsider", "DELETE", f"{P}/partner"), 204)


ROUTES = [
    (_owner_unshares, ("dataset", "topic", "hive")),
    (_receiver_rejects, ("dataset", "topic", "hive")),
    (_receiver_leaves, ("dataset",)),
    (_owner_project_deleted, ("dataset", "topic", "hive")),
    (_target_project_deleted, ("dataset", "topic", "hive")),
]


@pytest.mark.parametrize(
    ("route", "kind"),
    [(route, kind) for route, kinds in ROUTES for kind in kinds],
    ids=lambda v: getattr(v, "__name__", v),
)
def test_every_way_a_share_ends_removes_its_grant_at_once(partner: Api, app, route, kind):
    share_all(partner, (kind,))
    assert grants(app)[kind] is True
    route(partner, kind)
    assert grants(app) == {"dataset": False, "topic": False, "hive": False}
    if partner.call("outsider", "GET", f"{P}/partner").status_code == 200:
        for path in ("shared", "shared/topics", "shared/hive"):
            assert ok(partner.call("outsider", "GET", f"{P}/partner/{path}")).json()["items"] == []


# --- 1. names outliving their owner --------------------------------------------------------


def test_a_recreated_project_starts_empty(partner: Api, app, settings):
    """`demo` holds data, shares both ways and certificates; after deletion the next
    project called `demo` (someone else's) has none of it."""
    b = app.state.runtime.backends
    rt = app.state.runtime
    share_all(partner)
    # partner shares into demo too: demo's members hold grants on partner's data
    ok(partner.call("outsider", "POST", f"{P}/partner/datasets", json={"name": "inbox"}), 201)
    body = {"project": "demo", "permission": "editable"}
    ok(partner.call("outsider", "POST", f"{P}/partner/datasets/inbox/shares", json=body), 201)
    ok(partner.call("owner", "POST", f"{P}/demo/shared/partner::inbox/accept"))
    ok(partner.call("outsider", "POST", f"{P}/partner/hive/shares", json=body), 201)
    ok(partner.call("owner", "POST", f"{P}/demo/shared/hive/partner/accept"))
    ok(partner.upload("owner", "demo", "Resources", "secret.txt", b"the old owner's"), 201)
    old = ok(partner.call("owner", "GET", f"{P}/demo/credentials")).json()
    b.compute.record_application("demo", "application_1_0001", vcore_seconds=10)

    ok(partner.call("owner", "DELETE", f"{P}/demo"), 204)
    partner.register("newcomer")
    ok(partner.call("newcomer", "POST", P, json={"name": "demo"}), 201)

    datasets = ok(partner.call("newcomer", "GET", f"{P}/demo/datasets")).json()["items"]
    assert sorted(d["name"] for d in datasets) == ["Jupyter", "Logs", "Models", "Resources"]
    for d in datasets:
        listing = ok(partner.call("newcomer", "GET", f"{P}/demo/datasets/{d['name']}/files"))
        assert listing.json()["items"] == []
        assert b.storage.share_groups("demo", d["name"]) == {}
    assert b.storage.usage("demo") == (0, 0) and usage(partner, "demo") == (0, 0)
    assert ok(partner.call("newcomer", "GET", f"{P}/demo/topics")).json()["items"] == []
    assert b.kafka.list_topics("demo") == []
    assert set(b.kafka.describe_acls("demo")) == member_acls("demo", "newcomer")
    assert set(b.hive.list_grants("demo")) == {"demo__newcomer"}
    assert not any(w.startswith("demo__") for w in b.hive.list_grants("partner") or {})
    assert "demo" not in b.storage.share_groups("partner", "inbox")
    for path in ("shared", "shared/topics", "shared/hive"):
        assert ok(partner.call("newcomer", "GET", f"{P}/demo/{path}")).json()["items"] == []
    assert ok(partner.call("outsider", "GET", f"{P}/partner/shared")).json()["items"] == []
    assert (
        ok(partner.call("outsider", "GET", f"{P}/partner/datasets/inbox/shares")).json()["items"]
        == []
    )
    assert b.compute.application_usage("demo") == []
    k8s = b.kubernetes.describe_project("demo")
    assert k8s.members == {"newcomer": "data_owner"} and set(k8s.certificates) == {"newcomer"}
    # the old certificate no longer authenticates; the new owner's is a new one
    with pytest.raises(Unauthorized):
        pki_service.authenticate_client(rt, cert_pem=old["certificate"])
    new = ok(partner.call("newcomer", "GET", f"{P}/demo/credentials")).json()
    assert new["serial"] != old["serial"] and new["identity"] == "demo__newcomer"
    # the old owner is no member of the new project
    assert partner.call("owner", "GET", f"{P}/demo").status_code == 404


def test_a_recreated_dataset_starts_empty(partner: Api, app):
    storage = app.state.runtime.backends.storage
    share_all(partner, ("dataset",))
    ok(partner.call("owner", "DELETE", f"{P}/demo/datasets/sales"), 204)
    ok(partner.call("owner", "POST", f"{P}/demo/datasets", json={"name": "sales"}), 201)
    assert ok(partner.call("owner", "GET", f"{P}/demo/datasets/sales/files")).json()["items"] == []
    assert partner.download("owner", "demo", "sales", "2026/q1.csv").status_code == 404
    assert storage.share_groups("demo", "sales") == {}
    assert ok(partner.call("owner", "GET", f"{P}/demo/datasets/sales/shares")).json()["items"] == []
    assert partner.download("outsider", "partner", "demo::sales", "2026/q1.csv").status_code == 404
    assert usage(partner, "demo") == storage.usage("demo")


# --- 2. deletion racing work in flight -----------------------------------------------------


class Gate:
    """A request body that sends `head`, then waits until released, then sends `tail`."""

    def __init__(self, head: bytes, tail: bytes) -> None:
        self.head, self.tail = head, tail
        self.release = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        yield self.head
        assert self.release.wait(WAIT)
        yield self.tail


def started_writes(monkeypatch, rt) -> threading.Event:
    """Set once an upload has reserved its quota and opened its temporary file."""
    started = threading.Event()
    real = rt.backends.storage.begin_write

    def begin_write(*args, **kwargs):
        writer = real(*args, **kwargs)
        started.set()
        return writer

    monkeypatch.setattr(rt.backends.storage, "begin_write", begin_write)
    return started


def share_raw(api: Api) -> None:
    """`demo` shares dataset `raw` editable with `partner` (the outsider's), accepted."""
    ok(api.call("outsider", "POST", P, json={"name": "partner"}), 201)
    body = {"project": "partner", "permission": "editable"}
    ok(api.call("owner", "POST", f"{P}/demo/datasets/raw/shares", json=body), 201)
    ok(api.call("outsider", "POST", f"{P}/partner/shared/demo::raw/accept"))


@pytest.mark.parametrize("deleted", ["dataset", "project", "share"])
def test_an_upload_racing_a_deletion_fails_and_leaves_nothing(
    api: Api, app, live_server, settings, monkeypatch, deleted
):
    rt = app.state.runtime
    ok(api.call("owner", "POST", f"{P}/demo/datasets", json={"name": "raw"}), 201)
    who, url = "owner", f"{live_server}{P}/demo/datasets/raw/files/deep/dir/late.bin"
    if deleted == "share":  # the partner writes through its share, which then ends
        share_raw(api)
        who, url = (
            "outsider",
            f"{live_server}{P}/partner/datasets/demo::raw/files/deep/dir/late.bin",
        )
    started = started_writes(monkeypatch, rt)
    body = Gate(b"a" * 1000, b"b" * 1000)

    def put() -> httpx.Response:
        with httpx.Client(timeout=WAIT) as client:
            return client.put(url, content=iter(body), headers=api.headers(who))

    with ThreadPoolExecutor(1) as pool:
        upload = pool.submit(put)
        assert started.wait(WAIT)
        if deleted == "dataset":
            ok(api.call("owner", "DELETE", f"{P}/demo/datasets/raw"), 204)
            ok(api.call("owner", "POST", f"{P}/demo/datasets", json={"name": "raw"}), 201)
        elif deleted == "project":
            ok(api.call("owner", "DELETE", f"{P}/demo"), 204)
            ok(api.call("owner", "POST", P, json={"name": "demo"}), 201)
            ok(api.call("owner", "POST", f"{P}/demo/datasets", json={"name": "raw"}), 201)
        else:
            ok(api.call("owner", "DELETE", f"{P}/demo/datasets/raw/shares/partner"), 204)
        body.release.set()
        reply = upload.result(WAIT)
    assert reply.status_code == 404, reply.text
    assert "message" in reply.json()["error"]
    # the next owner of the name finds nothing: no file, no directory, no usage
    assert ok(api.call("owner", "GET", f"{P}/demo/datasets/raw/files")).json()["items"] == []
    assert api.download("owner", "demo", "raw", "deep/dir/late.bin").status_code == 404
    assert not (settings.storage_root / "Projects/demo/raw/deep").exists()
    assert usage(api, "demo") == rt.backends.storage.usage("demo") == (0, 0)
    assert uploads_left(settings) == [] and reservations(app) == 0


@pytest.mark.parametrize("ended", ["dataset deleted", "share ended"])
def test_a_download_racing_a_deletion_stops(api: Api, app, live_server, monkeypatch, ended):
    rt = app.state.runtime
    ok(api.call("owner", "POST", f"{P}/demo/datasets", json={"name": "raw"}), 201)
    size = 3 * 1024 * 1024
    ok(api.upload("owner", "demo", "raw", "big.bin", b"d" * size), 201)
    who, url = "owner", f"{live_server}{P}/demo/datasets/raw/files/big.bin"
    end = f"{P}/demo/datasets/raw"
    if ended == "share ended":  # the partner downloads through its share, which then ends
        share_raw(api)
        who, url = "outsider", f"{live_server}{P}/partner/datasets/demo::raw/files/big.bin"
        end = f"{P}/demo/datasets/raw/shares/partner"
    first_sent, deleted = threading.Event(), threading.Event()
    real = rt.backends.storage.open_read

    def open_read(*args, **kwargs):
        def chunks():
            for i, chunk in enumerate(real(*args, **kwargs)):
                if i == 1:  # the second chunk is read from storage only after the end
                    first_sent.set()
                    assert deleted.wait(WAIT)
                yield chunk

        return chunks()

    monkeypatch.setattr(rt.backends.storage, "open_read", open_read)

    def end_once_streaming() -> None:
        assert first_sent.wait(WAIT)
        ok(api.call("owner", "DELETE", end), 204)
        deleted.set()

    received = 0
    with ThreadPoolExecutor(1) as pool:
        ending = pool.submit(end_once_streaming)
        with (
            httpx.Client(timeout=WAIT) as client,
            client.stream("GET", url, headers=api.headers(who)) as reply,
        ):
            assert reply.status_code == 200
            assert int(reply.headers["content-length"]) == size
            with pytest.raises(httpx.HTTPError):
                for chunk in reply.iter_raw():
                    received += len(chunk)
        ending.result(WAIT)
    assert received < size


DELETIONS = {  # what is deleted while an accept is granting: (who, path)
    "dataset": ("owner", f"{P}/demo/datasets/sales"),
    "owner project": ("owner", f"{P}/demo"),
    "target project": ("outsider", f"{P}/partner"),
}


@pytest.mark.parametrize("deleted", list(DELETIONS))
def test_a_share_accept_racing_a_deletion_leaves_no_grant(
    partner: Api, app, live_server, monkeypatch, deleted
):
    storage = app.state.runtime.backends.storage
    body = {"project": "partner", "permission": "read_only"}
    ok(partner.call("owner", "POST", f"{P}/demo/datasets/sales/shares", json=body), 201)
    granting, release = threading.Event(), threading.Event()
    real = storage.grant_group

    def grant_group(*args, **kwargs):
        granting.set()
        assert release.wait(WAIT)
        return real(*args, **kwargs)

    monkeypatch.setattr(storage, "grant_group", grant_group)
    # On MariaDB the deletion reads before it takes its locks (the authorization); let it
    # get that far while the accept is mid-grant, so its snapshot predates the accept.
    # On SQLite writers are serialised: the deletion cannot start before the accept ends.
    authorized = threading.Event()
    real_access = project_service.access

    def access(*args, **kwargs):
        resolved = real_access(*args, **kwargs)
        if granting.is_set():
            authorized.set()
        return resolved

    monkeypatch.setattr(project_service, "access", access)
    interleave = app.state.runtime.engine.dialect.name != "sqlite"
    who, path = DELETIONS[deleted]

    def accept() -> int:
        with httpx.Client(base_url=live_server, timeout=WAIT) as client:
            headers = partner.headers("outsider")
            return client.post(
                f"{P}/partner/shared/demo::sales/accept", headers=headers
            ).status_code

    def delete() -> int:
        with httpx.Client(base_url=live_server, timeout=WAIT) as client:
            return client.delete(path, headers=partner.headers(who)).status_code

    with ThreadPoolExecutor(2) as pool:
        accepted = pool.submit(accept)
        assert granting.wait(WAIT)
        deletion = pool.submit(delete)
        if interleave:
            assert authorized.wait(WAIT)
        release.set()
        assert deletion.result(WAIT) == 204
        assert accepted.result(WAIT) in (200, 404)
    monkeypatch.undo()
    if deleted == "owner project":
        ok(partner.call("owner", "POST", P, json={"name": "demo"}), 201)
    if deleted != "target project":
        ok(partner.call("owner", "POST", f"{P}/demo/datasets", json={"name": "sales"}), 201)
    assert storage.share_groups("demo", "sales") == {}
    if deleted != "target project":
        assert ok(partner.call("outsider", "GET", f"{P}/partner/shared")).json()["items"] == []


def test_a_topic_creation_racing_the_projects_deletion_leaves_no_topic(
    api: Api, app, live_server, monkeypatch
):
    kafka = app.state.runtime.backends.kafka
    creating, release = threading.Event(), threading.Event()
    real = kafka.create_topic

    def create_topic(*args, **kwargs):
        creating.set()
        assert release.wait(WAIT)
        return real(*args, **kwargs)

    monkeypatch.setattr(kafka, "create_topic", create_topic)
    headers = api.headers("owner")

    def create() -> int:
        with httpx.Client(base_url=live_server, timeout=WAIT) as client:
            return client.post(
                f"{P}/demo/topics", json={"name": "late"}, headers=headers
            ).status_code

    def delete() -> int:
        with httpx.Client(base_url=live_server, timeout=WAIT) as client:
            return client.delete(f"{P}/demo", headers=headers).status_code

    with ThreadPoolExecutor(2) as pool:
        created = pool.submit(create)
        assert creating.wait(WAIT)
        deletion = pool.submit(delete)
        release.set()
        assert deletion.result(WAIT) == 204
        assert created.result(WAIT) in (201, 404)
    monkeypatch.undo()
    assert kafka.list_topics("demo") == []
    ok(api.call("owner", "POST", P, json={"name": "demo"}), 201)
    assert ok(api.call("owner", "GET", f"{P}/demo/topics")).json()["items"] == []
    assert kafka.list_topics("demo") == []
