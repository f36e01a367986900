"""Fault injection across systems: every backend step of every saga fails in turn; the API
answers 503 naming the system, and no backend, file or DB row keeps a trace."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import text

from hopsworks_api.backends.errors import BackendUnavailable
from tests.support.api import Api


def snapshot(app, settings) -> dict:
    """Everything a saga could touch: DB rows, the storage tree, each backend's state."""
    state: dict = {}
    with app.state.runtime.engine.connect() as conn:
        for table in (
            "projects",
            "memberships",
            "datasets",
            "dataset_shares",
            "resource_shares",
            "topics",
            "project_quotas",
        ):
            state[table] = conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar()
        state["valid certificates"] = conn.execute(
            text("SELECT COUNT(*) FROM certificates WHERE status = 'valid'")
        ).scalar()
    root: Path = settings.storage_root / "Projects"
    state["storage"] = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    for acl in sorted(root.rglob(".hops-acl.json")):  # share grants live with the data
        state[str(acl.relative_to(root))] = acl.read_text()
    with app.state.runtime.engine.connect() as conn:
        state["share status"] = conn.execute(
            text(
                "SELECT status FROM dataset_shares UNION ALL "
                "SELECT status FROM resource_shares ORDER BY 1"
            )
        ).all()
    for path in sorted(settings.backends_dir.rglob("*.json")):
        state[str(path.relative_to(settings.backends_dir))] = hashlib.sha256(
            path.read_bytes()
        ).hexdigest()
    return state


def break_(monkeypatch, app, system: str, attribute: str, method: str) -> None:
    backend = getattr(app.state.runtime.backends, attribute)

    def fail(*_args, **_kwargs):
        raise BackendUnavailable(system, f"{method} timed out (injected)")

    monkeypatch.setattr(backend, method, fail)


P = "/api/projects"
SHARES = ("datasets/Logs/shares", "topics/events/shares", "hive/shares")
ACCEPT = ("demo::Logs", "topics/demo::events", "hive/demo")


def offered(api: Api) -> None:
    """demo (owner, scientist) offers its Logs, topic `events` and Hive database to the
    admin's project `partner`, editable."""
    assert api.call("admin", "POST", P, json={"name": "partner"}).status_code == 201
    assert api.call("owner", "POST", f"{P}/demo/topics", json={"name": "events"}).status_code == 201
    for path in SHARES:
        reply = api.call(
            "owner",
            "POST",
            f"{P}/demo/{path}",
            json={"project": "partner", "permission": "editable"},
        )
        assert reply.status_code == 201, reply.text


def accepted(api: Api) -> None:
    offered(api)
    for ref in ACCEPT:
        reply = api.call("admin", "POST", f"{P}/partner/shared/{ref}/accept")
        assert reply.status_code == 200, reply.text


def accepted_with_scientist(api: Api) -> None:
    accepted(api)
    api.add_member("admin", "partner", "scientist", "data_scientist")


SAGAS = {
    "create project": (
        lambda api: api.call("owner", "POST", P, json={"name": "fresh"}),
        [
            ("hive", "hive", "create_database"),
            ("hive", "hive", "grant_member"),
            ("yarn", "compute", "create_project_queue"),
            ("kafka", "kafka", "grant_member"),
            ("kubernetes", "kubernetes", "ensure_project"),
            ("kubernetes", "kubernetes", "grant_member"),
            ("kubernetes", "kubernetes", "store_member_certificate"),
        ],
    ),
    "add member": (
        lambda api: api.call(
            "owner",
            "POST",
            f"{P}/demo/members",
            json={"email": "outsider@example.org", "role": "data_scientist"},
        ),
        [
            ("hive", "hive", "grant_member"),
            ("kafka", "kafka", "grant_member"),
            ("kubernetes", "kubernetes", "grant_member"),
            ("kubernetes", "kubernetes", "store_member_certificate"),
        ],
    ),
    "change role": (
        lambda api: api.call(
            "owner", "PUT", f"{P}/demo/members/scientist@example.org", json={"role": "data_owner"}
        ),
        [
            ("hive", "hive", "grant_member"),
            ("kubernetes", "kubernetes", "grant_member"),
        ],
    ),
    "remove member": (
        lambda api: api.call("owner", "DELETE", f"{P}/demo/members/scientist@example.org"),
        [
            ("hive", "hive", "revoke_member"),
            ("kafka", "kafka", "revoke_member"),
            ("kubernetes", "kubernetes", "revoke_member"),
            ("kubernetes", "kubernetes", "delete_member_certificate"),
        ],
    ),
    "delete project": (
        lambda api: api.call("owner", "DELETE", f"{P}/demo"),
        [
            ("kafka", "kafka", "delete_project"),
            ("yarn", "compute", "delete_project_queue"),
            ("kubernetes", "kubernetes", "delete_project"),
            ("hive", "hive", "drop_database"),
        ],
    ),
}
SHARE_SAGAS = {
    "accept dataset share": (
        lambda api: api.call("admin", "POST", f"{P}/partner/shared/demo::Logs/accept"),
        [("storage", "storage", "grant_group")],
        offered,
    ),
    "accept topic share": (
        lambda api: api.call("admin", "POST", f"{P}/partner/shared/topics/demo::events/accept"),
        [("kafka", "kafka", "share_topic")],
        offered,
    ),
    "accept hive share": (
        lambda api: api.call("admin", "POST", f"{P}/partner/shared/hive/demo/accept"),
        [("hive", "hive", "grant_share")],
        offered,
    ),
    "unshare dataset": (
        lambda api: api.call("owner", "DELETE", f"{P}/demo/datasets/Logs/shares/partner"),
        [("storage", "storage", "revoke_group")],
        accepted,
    ),
    "unshare topic": (
        lambda api: api.call("owner", "DELETE", f"{P}/demo/topics/events/shares/partner"),
        [("kafka", "kafka", "unshare_topic")],
        accepted,
    ),
    "unshare hive": (
        lambda api: api.call("owner", "DELETE", f"{P}/demo/hive/shares/partner"),
        [("hive", "hive", "revoke_share")],
        accepted,
    ),
    "add member with shares": (
        lambda api: api.call(
            "admin",
            "POST",
            f"{P}/partner/members",
            json={"email": "outsider@example.org", "role": "data_scientist"},
        ),
        [("kafka", "kafka", "share_topic"), ("hive", "hive", "grant_share")],
        accepted,
    ),
    "remove member with shares": (
        lambda api: api.call("admin", "DELETE", f"{P}/partner/members/scientist@example.org"),
        [("hive", "hive", "revoke_share"), ("kafka", "kafka", "revoke_member")],
        accepted_with_scientist,
    ),
    "delete project with shares": (
        lambda api: api.call("admin", "DELETE", f"{P}/partner"),
        [
            ("storage", "storage", "revoke_group"),
            ("hive", "hive", "revoke_share"),
            ("kafka", "kafka", "delete_project"),
            ("hive", "hive", "drop_database"),
        ],
        accepted_with_scientist,
    ),
}
SAGAS.update({name: (request, steps) for name, (request, steps, _setup) in SHARE_SAGAS.items()})
SETUP = {name: setup for name, (_request, _steps, setup) in SHARE_SAGAS.items()}
CASES = [
    pytest.param(saga, *step, id=f"{saga}-{step[2]}")
    for saga, (_request, steps) in SAGAS.items()
    for step in steps
]


@pytest.mark.parametrize(("saga", "system", "attribute", "method"), CASES)
def test_each_failing_step_is_compensated(
    api: Api, app, settings, monkeypatch, saga, system, attribute, method
):
    request = SAGAS[saga][0]
    if saga in SETUP:
        SETUP[saga](api)
    before = snapshot(app, settings)
    break_(monkeypatch, app, system, attribute, method)
    reply = request(api)
    assert reply.status_code == 503, reply.text
    error = reply.json()["error"]
    assert error["code"] == "backend_unavailable" and error["system"] == system
    assert error["message"].startswith(f"{system}: ")
    monkeypatch.undo()
    assert snapshot(app, settings) == before
    assert request(api).status_code in (200, 201, 204)  # the same change works once healed


def test_every_saga_reaches_every_backend(api: Api, app):
    b = app.state.runtime.backends
    assert b.compute.queue_info("demo").state == "RUNNING"
    hive = api.call("scientist", "GET", f"{P}/demo/hive").json()
    assert hive["database"] == "demo" and hive["location"].endswith("demo.db")
    assert b.hive.list_grants("demo") is not None
    assert {a.principal for a in b.kafka.describe_acls("demo")} >= {
        "User:demo__owner",
        "User:demo__scientist",
    }
    description = b.kubernetes.describe_project("demo")
    assert description.exists
    assert description.members == {"owner": "data_owner", "scientist": "data_scientist"}
    assert set(description.certificates) == {"owner", "scientist"}
    api.call("owner", "DELETE", f"{P}/demo/members/scientist@example.org")
    assert "User:demo__scientist" not in {a.principal for a in b.kafka.describe_acls("demo")}
    api.call("owner", "DELETE", f"{P}/demo")
    assert not b.kubernetes.describe_project("demo").exists
    assert "demo" not in b.hive.list_project_databases()
    assert b.kafka.describe_acls("demo") == []


def test_deleting_a_user_removes_their_grants_everywhere(api: Api, app):
    b = app.state.runtime.backends
    assert api.call("admin", "DELETE", "/api/users/scientist@example.org").status_code == 204
    assert "User:demo__scientist" not in {a.principal for a in b.kafka.describe_acls("demo")}
    description = b.kubernetes.describe_project("demo")
    assert "scientist" not in description.members and "scientist" not in description.certificates
