"""Audit: every mutating call and data access recorded; a tamper-evident chain."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from typer.testing import CliRunner

from hopsworks_api.cli import app as cli
from tests.support.api import Api


def feed(api: Api, who: str = "owner", project: str = "demo") -> list[dict]:
    reply = api.call(who, "GET", f"/api/projects/{project}/activity?limit=500")
    assert reply.status_code == 200, reply.text
    return reply.json()["items"]


def test_mutations_and_data_access_are_recorded_newest_first(api: Api):
    api.upload("owner", "demo", "Logs", "a.csv", b"1")
    api.download("owner", "demo", "Logs", "a.csv")
    items = feed(api)
    assert [i["action"] for i in items[:2]] == ["file.read", "file.upload"]
    download, upload = items[0], items[1]
    assert download["actor"] == upload["actor"] == "owner@example.org"
    assert download["target"] == "Logs/a.csv" and download["outcome"] == "ok"
    assert upload["status_code"] == 201 and upload["client"]
    assert items == sorted(items, key=lambda i: i["id"], reverse=True)
    actions = {i["action"] for i in items}
    assert {"project.create", "member.add"} <= actions


def test_refusals_are_recorded_too(api: Api):
    api.upload("scientist", "demo", "Logs", "x", b"1")  # 403
    api.upload("outsider", "demo", "Logs", "x", b"1")  # 404
    api.client.put("/api/projects/demo/datasets/Logs/files/x", content=b"1")  # 401
    items = feed(api)[:3]
    assert [(i["actor"], i["outcome"], i["status_code"]) for i in items] == [
        ("anonymous", "denied", 401),
        ("outsider@example.org", "denied", 404),
        ("scientist@example.org", "denied", 403),
    ]


def test_reads_of_metadata_are_not_noise_but_listing_files_is_data_access(api: Api):
    before = len(feed(api))
    api.call("owner", "GET", "/api/projects/demo/members")
    api.call("owner", "GET", "/api/projects/demo/datasets/Logs/files/")
    after = feed(api)
    # the listing, then the first feed read (recorded once its response was sent)
    assert len(after) == before + 2
    assert [after[0]["action"], after[1]["action"]] == ["file.read", "project.activity"]


def test_records_survive_project_deletion(api: Api, app):
    api.call("owner", "DELETE", "/api/projects/demo")
    with app.state.runtime.engine.connect() as conn:
        actions = (
            conn.execute(
                text("SELECT action FROM audit_log WHERE project = 'demo' ORDER BY id DESC")
            )
            .scalars()
            .all()
        )
    assert actions[0] == "project.delete" and "project.create" in actions


def test_the_log_is_append_only(api: Api, app):
    with app.state.runtime.engine.connect() as conn:
        for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
            with pytest.raises(DatabaseError, match="append-only"):
                conn.execute(text(statement))
            conn.rollback()


def _verify(settings) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli,
        ["audit", "verify", "--db", settings.database_url, "--data-dir", str(settings.data_dir)],
    )
    return result.exit_code, result.output


def _as_attacker(app, *statements: str) -> None:
    """Someone with DBA rights drops the guard triggers and rewrites history."""
    with app.state.runtime.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER audit_log_no_update"))
        conn.execute(text("DROP TRIGGER audit_log_no_delete"))
        for statement in statements:
            conn.execute(text(statement))


def test_verify_passes_on_an_untouched_log(api: Api, settings):
    code, output = _verify(settings)
    assert code == 0, output
    assert "intact" in output


@pytest.mark.parametrize(
    ("statements", "finding"),
    [
        (
            ["UPDATE audit_log SET actor = 'someone@else.org' WHERE id = 3"],
            "record 3: content does not match",
        ),
        (
            # record 1 is the seal, 2 the first registration (201), 3 its login (200)
            ["UPDATE audit_log SET outcome = 'ok', status_code = 201 WHERE id = 3"],
            "record 3: content does not match",
        ),
        (["DELETE FROM audit_log WHERE id = 2"], "records 2..2 are missing"),
        (
            [
                "DELETE FROM audit_log WHERE id = (SELECT m FROM (SELECT MAX(id) AS m FROM audit_log) t)"
            ],
            "newest records were removed",
        ),
    ],
    ids=["edited-actor", "edited-outcome", "deleted-middle", "deleted-newest"],
)
def test_verify_detects_tampering(api: Api, app, settings, statements, finding):
    _as_attacker(app, *statements)
    code, output = _verify(settings)
    assert code == 1
    assert finding in " ".join(output.split())
