"""Member changes and account deletions racing a project's deletion (issue 11, item 3).

Either the change commits first and the deletion then removes every grant it made, or the
change finds the project gone and answers 404: never a 500, and never a membership row, a
valid certificate or a grant in Kafka, Hive or Kubernetes for a project that is gone (a
later project of the same name would inherit it). Each race is driven with events: one
side is held inside its backend steps (so inside its transaction) while the other starts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pymysql
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from hopsworks_api.backends.errors import BackendUnavailable
from hopsworks_api.backends.hive.base import principal as hive_principal
from hopsworks_api.backends.kafka.base import principal as kafka_principal
from hopsworks_api.projects import service as project_service
from hopsworks_api.provisioning import apply as provisioning_apply
from hopsworks_api.users import service as user_service
from tests.support.api import Api

P = "/api/projects"
M = f"{P}/demo/members"
NEWBIE = "newbie@example.org"
WAIT = 60  # seconds: a bound on waiting for an event, never a synchronisation by sleep


def ok(reply: httpx.Response, status: int = 200) -> httpx.Response:
    assert reply.status_code == status, reply.text
    return reply


@pytest.fixture
def shared(api: Api) -> Api:
    """`partner` (the outsider's) shares its Hive database editable with `demo`, accepted:
    every member of demo holds a grant on partner's database, which only the member list
    of demo's deletion can find again."""
    ok(api.call("outsider", "POST", P, json={"name": "partner"}), 201)
    body = {"project": "demo", "permission": "editable"}
    ok(api.call("outsider", "POST", f"{P}/partner/hive/shares", json=body), 201)
    ok(api.call("owner", "POST", f"{P}/demo/shared/hive/partner/accept"))
    api.register("newbie")
    return api


class Hold:
    """Wraps `obj.name`: the first call signals `entered` and waits for `release`."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, obj: Any, name: str) -> None:
        self.entered, self.release = threading.Event(), threading.Event()
        real = getattr(obj, name)

        def held(*args: Any, **kwargs: Any) -> Any:
            if not self.entered.is_set():
                self.entered.set()
                assert self.release.wait(WAIT)
            return real(*args, **kwargs)

        monkeypatch.setattr(obj, name, held)


def reached(
    monkeypatch: pytest.MonkeyPatch, name: str, when: Callable[..., bool]
) -> threading.Event:
    """Set once `project_service.<name>` is called with arguments `when` accepts."""
    event = threading.Event()
    real = getattr(project_service, name)

    def spy(*args: Any, **kwargs: Any) -> Any:
        if when(*args, **kwargs):
            event.set()
        return real(*args, **kwargs)

    monkeypatch.setattr(project_service, name, spy)
    return event


def authorized_after(monkeypatch: pytest.MonkeyPatch, hold: Hold) -> threading.Event:
    """Set once a request started after `hold` entered has authorized its caller: on
    MariaDB its view of the project now predates the held side's commit."""
    return reached(monkeypatch, "access", lambda *a, **k: hold.entered.is_set())


def looked_up_after(monkeypatch: pytest.MonkeyPatch, hold: Hold) -> threading.Event:
    """Set once an account deletion started after `hold` entered has looked up newbie."""
    event = threading.Event()
    real = user_service.get_by_email

    def get_by_email(session: Any, email: str) -> Any:
        found = real(session, email)
        if email == NEWBIE and hold.entered.is_set():
            event.set()
        return found

    monkeypatch.setattr(user_service, "get_by_email", get_by_email)
    return event


def request(live_server: str, api: Api, who: str, method: str, path: str, **kw: Any) -> Any:
    def send() -> httpx.Response:
        with httpx.Client(base_url=live_server, timeout=WAIT) as client:
            return client.request(method, path, headers=api.headers(who), **kw)

    return send


def race(
    app: Any,
    monkeypatch: pytest.MonkeyPatch,
    *,
    first: Callable[[], httpx.Response],
    second: Callable[[], httpx.Response],
    hold: Hold,
    second_waits: threading.Event,
) -> tuple[httpx.Response, httpx.Response]:
    """Run `first` until it is held in its backend steps, then `second` until it is past
    its first (snapshot) read, then let both finish. On SQLite writers are serialised: the
    second cannot start its transaction before the first ends, so nothing is awaited."""
    interleave = app.state.runtime.engine.dialect.name != "sqlite"
    with ThreadPoolExecutor(2) as pool:
        one = pool.submit(first)
        assert hold.entered.wait(WAIT)
        two = pool.submit(second)
        if interleave:
            assert second_waits.wait(WAIT)
        hold.release.set()
        replies = one.result(WAIT), two.result(WAIT)
    monkeypatch.undo()
    return replies


def rows(app: Any, sql: str, **params: Any) -> int:
    with app.state.runtime.engine.connect() as conn:
        return conn.execute(text(sql), params).scalar() or 0


def traces(app: Any, username: str, user_id: int, projects: tuple[str, ...]) -> dict[str, Any]:
    """Everything `username` may still hold in `projects` (all gone or re-created)."""
    b = app.state.runtime.backends
    acls = b.kafka.describe_acls()
    found: dict[str, Any] = {
        "memberships": rows(app, "SELECT COUNT(*) FROM memberships WHERE user_id = :u", u=user_id),
        "certificates": rows(
            app,
            "SELECT COUNT(*) FROM certificates WHERE user_id = :u AND status = 'valid'",
            u=user_id,
        ),
    }
    for project in projects:
        who = hive_principal(project, username)
        hive = [db for db in ("demo", "partner") if who in (b.hive.list_grants(db) or {})]
        found[project] = {
            "kafka": [a for a in acls if a.principal == kafka_principal(project, username)],
            "hive": hive,
            "kubernetes": username in b.kubernetes.describe_project(project).members,
        }
    return found


def nothing(projects: tuple[str, ...]) -> dict[str, Any]:
    return {
        "memberships": 0,
        "certificates": 0,
        **{p: {"kafka": [], "hive": [], "kubernetes": False} for p in projects},
    }


def assert_granted(app: Any, project: str) -> None:
    """The checks can fail: a member of `project` shows up in every one of them."""
    found = traces(app, "newbie", newbie_id(app), (project,))
    assert found["memberships"] >= 1 and found["certificates"] >= 1
    assert found[project]["kafka"] and found[project]["kubernetes"]
    assert project in found[project]["hive"]
    if project == "demo":  # partner's database is shared with demo's members
        assert "partner" in found[project]["hive"]


def newbie_id(app: Any) -> int:
    return rows(app, "SELECT id FROM users WHERE email = :e", e=NEWBIE)


def assert_no_trace_of_newbie_in_demo(api: Api, app: Any) -> None:
    """demo is gone; its next owner's project has nothing of newbie's either."""
    b = app.state.runtime.backends
    assert b.kafka.list_topics("demo") == []
    assert not b.kubernetes.describe_project("demo").exists
    ok(api.call("owner", "POST", P, json={"name": "demo"}), 201)
    assert traces(app, "newbie", newbie_id(app), ("demo",)) == nothing(("demo",))
    assert b.kubernetes.describe_project("demo").members == {"owner": "data_owner"}
    assert [m["email"] for m in ok(api.call("owner", "GET", M)).json()["items"]] == [
        "owner@example.org"
    ]


def deletes_demo(live_server: str, api: Api) -> Callable[[], httpx.Response]:
    return request(live_server, api, "owner", "DELETE", f"{P}/demo")


# --- adding a member -------------------------------------------------------------------


@pytest.mark.parametrize("first", ["add", "deletion"])
def test_a_member_added_while_the_project_is_deleted_leaves_no_grant(
    shared: Api, app, live_server, monkeypatch, first
):
    b = app.state.runtime.backends
    add = request(
        live_server, shared, "owner", "POST", M, json={"email": NEWBIE, "role": "data_scientist"}
    )
    delete = deletes_demo(live_server, shared)
    if first == "add":  # held granting Hive; the deletion then reads and waits for the lock
        hold = Hold(monkeypatch, b.hive, "grant_member")
        authorized = authorized_after(monkeypatch, hold)
        added, deleted = race(
            app, monkeypatch, first=add, second=delete, hold=hold, second_waits=authorized
        )
        assert added.status_code == 201, added.text
    else:  # the deletion is held in its backend steps, the add reaches the project's lock
        hold = Hold(monkeypatch, b.kafka, "delete_project")
        started = authorized_after(monkeypatch, hold)
        deleted, added = race(
            app, monkeypatch, first=delete, second=add, hold=hold, second_waits=started
        )
        assert added.status_code == 404, added.text
        assert added.json()["error"]["code"] == "not_found"
    assert deleted.status_code == 204, deleted.text
    assert traces(app, "newbie", newbie_id(app), ("demo",)) == nothing(("demo",))
    assert_no_trace_of_newbie_in_demo(shared, app)


def test_a_failed_deletion_gives_back_the_grants_of_a_member_added_while_it_waited(
    shared: Api, app, live_server, monkeypatch
):
    """The deletion's undo re-grants the members it read: that read must see the member
    whose addition it waited for (MariaDB: a locking read, not its older snapshot)."""
    b = app.state.runtime.backends
    add = request(
        live_server, shared, "owner", "POST", M, json={"email": NEWBIE, "role": "data_scientist"}
    )
    delete = deletes_demo(live_server, shared)
    hold = Hold(monkeypatch, b.hive, "grant_member")
    authorized = authorized_after(monkeypatch, hold)

    def drop_database(project: str) -> bool:
        raise BackendUnavailable("hive", "metastore did not answer")

    monkeypatch.setattr(b.hive, "drop_database", drop_database)
    added, deleted = race(
        app, monkeypatch, first=add, second=delete, hold=hold, second_waits=authorized
    )
    assert added.status_code == 201, added.text
    assert deleted.status_code == 503, deleted.text
    assert deleted.json()["error"]["code"] == "backend_unavailable"
    assert b.kubernetes.describe_project("demo").members["newbie"] == "data_scientist"
    assert "newbie" in b.kubernetes.describe_project("demo").certificates
    assert_granted(app, "demo")


# --- changing a role -------------------------------------------------------------------


@pytest.mark.parametrize("first", ["change", "deletion"])
def test_a_role_changed_while_the_project_is_deleted_leaves_no_grant(
    shared: Api, app, live_server, monkeypatch, first
):
    b = app.state.runtime.backends
    shared.add_member("owner", "demo", "newbie", "data_scientist")
    assert_granted(app, "demo")
    change = request(
        live_server, shared, "owner", "PUT", f"{M}/{NEWBIE}", json={"role": "data_owner"}
    )
    delete = deletes_demo(live_server, shared)
    if first == "change":
        hold = Hold(monkeypatch, b.hive, "grant_member")
        authorized = authorized_after(monkeypatch, hold)
        changed, deleted = race(
            app, monkeypatch, first=change, second=delete, hold=hold, second_waits=authorized
        )
        assert changed.status_code == 200, changed.text
    else:
        hold = Hold(monkeypatch, b.kafka, "delete_project")
        started = authorized_after(monkeypatch, hold)
        deleted, changed = race(
            app, monkeypatch, first=delete, second=change, hold=hold, second_waits=started
        )
        assert changed.status_code == 404, changed.text
        assert changed.json()["error"]["code"] == "not_found"
    assert deleted.status_code == 204, deleted.text
    assert traces(app, "newbie", newbie_id(app), ("demo",)) == nothing(("demo",))
    assert_no_trace_of_newbie_in_demo(shared, app)


@pytest.mark.parametrize("first", ["removal", "deletion"])
def test_a_member_removed_while_the_project_is_deleted_never_fails_with_500(
    shared: Api, app, live_server, monkeypatch, first
):
    b = app.state.runtime.backends
    shared.add_member("owner", "demo", "newbie", "data_scientist")
    remove = request(live_server, shared, "owner", "DELETE", f"{M}/{NEWBIE}")
    delete = deletes_demo(live_server, shared)
    if first == "removal":
        hold = Hold(monkeypatch, b.hive, "revoke_member")
        authorized = authorized_after(monkeypatch, hold)
        removed, deleted = race(
            app, monkeypatch, first=remove, second=delete, hold=hold, second_waits=authorized
        )
        assert removed.status_code == 204, removed.text
    else:
        hold = Hold(monkeypatch, b.kafka, "delete_project")
        started = authorized_after(monkeypatch, hold)
        deleted, removed = race(
            app, monkeypatch, first=delete, second=remove, hold=hold, second_waits=started
        )
        assert removed.status_code == 404, removed.text
    assert deleted.status_code == 204, deleted.text
    assert_no_trace_of_newbie_in_demo(shared, app)


# --- deleting an account ---------------------------------------------------------------


@pytest.mark.parametrize("first", ["account", "project"])
def test_an_account_deleted_while_its_project_is_deleted_leaves_no_grant(
    shared: Api, app, live_server, monkeypatch, first
):
    """newbie belongs to demo (being deleted) and to partner (staying)."""
    b = app.state.runtime.backends
    shared.add_member("owner", "demo", "newbie", "data_scientist")
    shared.add_member("outsider", "partner", "newbie", "data_scientist")
    uid = newbie_id(app)
    assert_granted(app, "demo")
    assert_granted(app, "partner")
    delete_account = request(live_server, shared, "admin", "DELETE", f"/api/users/{NEWBIE}")
    delete = deletes_demo(live_server, shared)
    if first == "account":  # held revoking newbie's Hive grants
        hold = Hold(monkeypatch, b.hive, "revoke_member")
        authorized = authorized_after(monkeypatch, hold)
        gone, deleted = race(
            app,
            monkeypatch,
            first=delete_account,
            second=delete,
            hold=hold,
            second_waits=authorized,
        )
    else:  # the account's deletion reaches the projects' locks while demo's deletion is held
        hold = Hold(monkeypatch, b.kafka, "delete_project")
        started = looked_up_after(monkeypatch, hold)
        deleted, gone = race(
            app, monkeypatch, first=delete, second=delete_account, hold=hold, second_waits=started
        )
    assert gone.status_code == 204, gone.text
    assert deleted.status_code == 204, deleted.text
    assert newbie_id(app) == 0
    assert traces(app, "newbie", uid, ("demo", "partner")) == nothing(("demo", "partner"))
    assert b.kubernetes.describe_project("partner").members == {"outsider": "data_owner"}
    ok(shared.call("owner", "POST", P, json={"name": "demo"}), 201)
    assert traces(app, "newbie", uid, ("demo",)) == nothing(("demo",))


def test_an_account_gaining_a_project_while_being_deleted_loses_its_grants_there(
    shared: Api, app, live_server, monkeypatch
):
    """The account's deletion looked up its projects (none) before newbie was added to demo:
    it starts again rather than leaving demo's grants behind or locking out of order."""
    b = app.state.runtime.backends
    uid = newbie_id(app)
    looked_up, added = threading.Event(), threading.Event()
    real_get = user_service.get_by_email

    def get_by_email(session: Any, email: str) -> Any:
        found = real_get(session, email)
        if email == NEWBIE and not looked_up.is_set():
            looked_up.set()
            assert added.wait(WAIT)
        return found

    locked: list[int] = []  # the projects the deletion locks once newbie joined demo
    real_lock = project_service.lock

    def lock(session: Any, project_id: int, **kwargs: Any) -> bool:
        if added.is_set():
            locked.append(project_id)
        return real_lock(session, project_id, **kwargs)

    monkeypatch.setattr(user_service, "get_by_email", get_by_email)
    monkeypatch.setattr(project_service, "lock", lock)
    delete_account = request(live_server, shared, "admin", "DELETE", f"/api/users/{NEWBIE}")
    with ThreadPoolExecutor(1) as pool:
        gone = pool.submit(delete_account)
        assert looked_up.wait(WAIT)
        shared.add_member("owner", "demo", "newbie", "data_scientist")
        added.set()
        assert gone.result(WAIT).status_code == 204
    monkeypatch.undo()
    # started again, and took demo's lock in order this time
    assert locked == [rows(app, "SELECT id FROM projects WHERE name = 'demo'")]
    assert traces(app, "newbie", uid, ("demo",)) == nothing(("demo",))
    assert "newbie" not in b.kubernetes.describe_project("demo").members


# --- a lost lock wait ------------------------------------------------------------------


def lost_lock_wait(*args: Any, **kwargs: Any) -> Any:
    """What SQLAlchemy raises when MariaDB picks this transaction as a deadlock victim."""
    raise OperationalError(
        "SELECT ...",
        {},
        pymysql.err.OperationalError(1213, "Deadlock found when trying to get lock"),
    )


@pytest.mark.parametrize("change", ["add", "remove", "delete account"])
def test_a_deadlock_victim_answers_503_busy_and_leaves_nothing(
    shared: Api, app, monkeypatch, change
):
    """The last read of the write transaction (the projects the change reaches, read
    before the change is journalled) fails as a deadlock victim would: nothing is kept
    anywhere, and the client is told to retry, not shown a 500."""
    if change == "add":
        before = traces(app, "newbie", newbie_id(app), ("demo",))
        monkeypatch.setattr(provisioning_apply, "related", lost_lock_wait)
        reply = shared.call("owner", "POST", M, json={"email": NEWBIE, "role": "data_scientist"})
    else:
        shared.add_member("owner", "demo", "newbie", "data_scientist")
        before = traces(app, "newbie", newbie_id(app), ("demo",))
        if change == "remove":
            monkeypatch.setattr(provisioning_apply, "related", lost_lock_wait)
            reply = shared.call("owner", "DELETE", f"{M}/{NEWBIE}")
        else:
            monkeypatch.setattr(provisioning_apply, "related", lost_lock_wait)
            reply = shared.call("admin", "DELETE", f"/api/users/{NEWBIE}")
    assert reply.status_code == 503, reply.text
    assert reply.json()["error"]["code"] == "busy"
    assert reply.headers["Retry-After"] == "1"
    monkeypatch.undo()
    assert traces(app, "newbie", newbie_id(app), ("demo",)) == before


def test_two_projects_sharing_with_each_other_deleted_at_once_never_fail_with_500(
    api: Api, app, live_server, monkeypatch
):
    """Both deletions hold their own project's lock at once (MariaDB; on SQLite writers
    run one after the other), then tear down and cascade over each other's shares. A
    deadlock victim, if MariaDB picks one, answers 503 `busy` with everything as it was
    (a retry works); in the end both projects are gone, never a 500."""
    storage = app.state.runtime.backends.storage
    ok(api.call("outsider", "POST", P, json={"name": "partner"}), 201)
    for who, project, dataset, target in (
        ("owner", "demo", "raw", "partner"),
        ("outsider", "partner", "inbox", "demo"),
    ):
        ok(api.call(who, "POST", f"{P}/{project}/datasets", json={"name": dataset}), 201)
        body = {"project": target, "permission": "read_only"}
        ok(api.call(who, "POST", f"{P}/{project}/datasets/{dataset}/shares", json=body), 201)
        other = "outsider" if who == "owner" else "owner"
        ok(api.call(other, "POST", f"{P}/{target}/shared/{project}::{dataset}/accept"))
    side_by_side = app.state.runtime.engine.dialect.name != "sqlite"
    both_locked = threading.Barrier(2, timeout=WAIT)
    real = provisioning_apply.related  # read by a deletion right after its own lock

    def related(*args: Any, **kwargs: Any) -> Any:
        if side_by_side:
            both_locked.wait()
        return real(*args, **kwargs)

    monkeypatch.setattr(provisioning_apply, "related", related)
    deletions = {
        "demo": request(live_server, api, "owner", "DELETE", f"{P}/demo"),
        "partner": request(live_server, api, "outsider", "DELETE", f"{P}/partner"),
    }
    with ThreadPoolExecutor(2) as pool:
        futures = {name: pool.submit(send) for name, send in deletions.items()}
        replies = {name: future.result(WAIT) for name, future in futures.items()}
    monkeypatch.undo()
    for name, reply in replies.items():
        assert reply.status_code in (204, 503), reply.text
        if reply.status_code == 503:
            assert reply.json()["error"]["code"] == "busy"
            assert reply.headers["Retry-After"] == "1"
            ok(deletions[name](), 204)  # the retry, alone
    assert 204 in {reply.status_code for reply in replies.values()}
    assert not storage.project_exists("demo") and not storage.project_exists("partner")
    assert rows(app, "SELECT COUNT(*) FROM projects") == 0
    assert rows(app, "SELECT COUNT(*) FROM certificates WHERE status = 'valid'") == 0
