"""The activity feed belongs to a project, not to a name: a project re-created under an
old name starts with nothing but its own creation, and requests about a name before any
project held it are in nobody's feed. Every refused request is audited."""

from __future__ import annotations

from sqlalchemy import text

from tests.support.api import Api


def feed(api: Api, project: str, who: str = "owner") -> list[dict]:
    reply = api.call(who, "GET", f"/api/projects/{project}/activity?limit=500")
    assert reply.status_code == 200, reply.text
    return reply.json()["items"]


def _create(api: Api, name: str) -> int:
    reply = api.call("owner", "POST", "/api/projects", json={"name": name})
    assert reply.status_code == 201, reply.text
    return reply.json()["id"]


def test_a_re_created_project_starts_with_an_empty_feed(api: Api):
    first = _create(api, "phoenix")
    api.add_member("owner", "phoenix", "scientist", "data_scientist")
    api.upload("owner", "phoenix", "Logs", "old.csv", b"1")
    api.upload("outsider", "phoenix", "Logs", "probe.csv", b"1")  # 404, about the old one
    assert len(feed(api, "phoenix")) >= 4
    assert api.call("owner", "DELETE", "/api/projects/phoenix").status_code == 204
    second = _create(api, "phoenix")
    assert second != first
    items = feed(api, "phoenix")
    assert [(i["action"], i["actor"]) for i in items] == [("project.create", "owner@example.org")]


def test_requests_before_the_project_existed_are_in_no_feed(api: Api, app):
    api.upload("outsider", "later", "Logs", "x", b"1")  # 404
    api.call(
        "outsider",
        "POST",
        "/api/projects/later/members",
        json={"email": "a@b.org", "role": "data_scientist"},
    )
    api.client.delete("/api/projects/later")  # 401, anonymous
    api.call("outsider", "PATCH", "/api/projects/later/nothing-here")  # unknown route
    _create(api, "later")
    assert [i["action"] for i in feed(api, "later")] == ["project.create"]
    with app.state.runtime.engine.connect() as conn:
        earlier = conn.execute(
            text("SELECT status_code, project_id FROM audit_log WHERE project = 'later'")
        ).all()
    # recorded all the same, under the name, attributed to no project
    assert sorted(r.status_code for r in earlier if r.project_id is None) == [401, 404, 404, 404]


def test_a_failed_creation_of_a_taken_name_is_not_in_its_feed(api: Api):
    reply = api.call("outsider", "POST", "/api/projects", json={"name": "demo"})
    assert reply.status_code == 409
    assert all(i["actor"] != "outsider@example.org" for i in feed(api, "demo"))


def test_refusals_on_unknown_routes_and_any_method_are_audited(api: Api, app):
    api.client.post("/api/no-such-thing", json={})  # 404, unrouted, anonymous
    api.call("owner", "PATCH", "/api/projects")  # 405
    api.client.get("/api/projects/demo/members")  # 401 on a read
    api.call("outsider", "GET", "/api/projects/demo/members")  # 404 on a read: a probe
    api.call("scientist", "DELETE", "/api/projects/demo")  # 403
    api.call("owner", "GET", "/api/projects/demo/members")  # 200 metadata read: not audited
    with app.state.runtime.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT action, status_code, outcome FROM audit_log ORDER BY id DESC LIMIT 5")
        ).all()
    assert [tuple(r) for r in reversed(rows)] == [
        ("POST /api/no-such-thing", 404, "denied"),
        ("PATCH /api/projects", 405, "rejected"),
        ("member.list", 401, "denied"),
        ("member.list", 404, "denied"),
        ("project.delete", 403, "denied"),
    ]
    newest = feed(api, "demo")[:3]
    assert [(i["status_code"], i["actor"]) for i in newest] == [
        (403, "scientist@example.org"),
        (404, "outsider@example.org"),
        (401, "anonymous"),
    ]


def test_audited_reads_and_refused_reads_carry_the_projects_id(api: Api, app):
    """Audited reads take the project's id before they run (found by their routes' paths);
    other reads only when they end refused; successful metadata reads not at all."""
    api.upload("owner", "demo", "Resources", "a.csv", b"1")
    api.call("owner", "GET", "/api/projects/demo/datasets/Resources/files/a.csv")
    api.call("owner", "GET", "/api/projects/demo/activity")
    api.call("outsider", "GET", "/api/projects/demo/datasets")  # 404
    with app.state.runtime.engine.connect() as conn:
        demo = conn.execute(text("SELECT id FROM projects WHERE name = 'demo'")).scalar()
        rows = conn.execute(
            text("SELECT action, status_code, project_id FROM audit_log ORDER BY id DESC LIMIT 3")
        ).all()
    assert [tuple(r) for r in reversed(rows)] == [
        ("file.read", 200, demo),
        ("project.activity", 200, demo),
        ("dataset.list", 404, demo),
    ]


def test_named_routes_are_told_apart_before_routing(app):
    """The middlewares that act before routing (audit's early project lookup, the body
    limit's upload exemption) find their routes in the mounted app, nested routers too."""
    from hopsworks_api.asgi import NamedRoutes
    from hopsworks_api.audit.middleware import AUDITED_READS
    from hopsworks_api.limits import STREAMING_ROUTES

    def scope(method: str, path: str) -> dict:
        return {"type": "http", "method": method, "path": path, "app": app}

    files = "/api/projects/demo/datasets/Resources/files"
    reads, uploads = NamedRoutes(AUDITED_READS), NamedRoutes(STREAMING_ROUTES)
    assert reads.match(scope("GET", f"{files}/a/b.csv"))
    assert reads.match(scope("GET", files))
    assert reads.match(scope("GET", "/api/projects/demo/activity"))
    assert reads.match(scope("GET", "/api/projects/demo/credentials"))
    assert not reads.match(scope("GET", "/api/projects/demo/members"))
    assert not reads.match(scope("GET", "/api/projects/demo/activityx"))
    assert uploads.match(scope("PUT", f"{files}/a.csv"))
    assert not uploads.match(scope("POST", f"{files}/a.csv"))
    assert not uploads.match(scope("PUT", "/api/projects/demo"))
