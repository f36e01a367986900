"""Reconciliation: drift made behind the service's back is found, reported and repaired."""

from __future__ import annotations

import shutil

from typer.testing import CliRunner

from hopsworks_api.backends.kubernetes.base import KubeQuota
from hopsworks_api.cli import app as cli
from hopsworks_api.provisioning.converge import reconcile
from tests.support.api import Api


def make_drift(app, settings) -> None:
    b = app.state.runtime.backends
    b.kubernetes.delete_project("demo")  # namespace, bindings and secrets gone
    b.kafka.revoke_member("demo", "scientist")
    b.kafka.grant_member("demo", "intruder")
    b.compute.delete_project_queue("demo")
    b.hive.drop_database("demo")
    b.hive.create_database("ghost")
    b.compute.create_project_queue("ghost", 0, 100)  # a project the DB does not know
    b.kubernetes.ensure_project("ghost", KubeQuota(cpu="1", memory="1Gi"))
    shutil.rmtree(settings.storage_root / "Projects" / "demo" / "Models")


def problems(report) -> set[tuple[str, str, str]]:
    return {(d.system, d.project, d.problem) for d in report.drift}


def test_dry_run_reports_and_changes_nothing_then_repair_converges(api: Api, app, settings):
    rt = app.state.runtime
    assert reconcile(rt, dry_run=True).drift == []
    make_drift(app, settings)
    found = reconcile(rt, dry_run=True)
    assert problems(found) >= {
        ("kubernetes", "demo", "namespace missing"),
        ("kafka", "demo", "ACLs of member 'scientist' missing"),
        ("kafka", "demo", "ACLs of non-member 'intruder'"),
        ("yarn", "demo", "queue missing"),
        ("hive", "demo", "database missing"),
        ("hive", "ghost", "database of a project that does not exist"),
        ("yarn", "ghost", "queue of a project that does not exist"),
        ("kubernetes", "ghost", "namespace of a project that does not exist"),
        ("storage", "demo", "dataset directory 'Models' missing"),
        ("kubernetes", "demo", "certificate secret of 'owner' missing"),
    }
    assert problems(reconcile(rt, dry_run=True)) == problems(found)  # dry run changed nothing
    repaired = reconcile(rt)
    assert all(d.repaired for d in repaired.drift)
    assert reconcile(rt, dry_run=True).drift == []
    b = rt.backends
    assert b.kubernetes.describe_project("demo").members == {
        "owner": "data_owner",
        "scientist": "data_scientist",
    }
    assert "ghost" not in b.kubernetes.list_projects()
    assert (settings.storage_root / "Projects" / "demo" / "Models").is_dir()


def test_reconcile_cli(api: Api, app, settings):
    make_drift(app, settings)
    args = ["reconcile", "--db", settings.database_url, "--data-dir", str(settings.data_dir)]
    runner = CliRunner()
    dry = runner.invoke(cli, [*args, "--project", "demo", "--dry-run"])
    assert dry.exit_code == 0 and "namespace missing" in dry.output and "ghost" not in dry.output
    checked = runner.invoke(cli, [*args, "--check"])
    assert checked.exit_code == 1 and "ghost" in checked.output
    fixed = runner.invoke(cli, args)
    assert fixed.exit_code == 0 and "ghost" in fixed.output
    again = runner.invoke(cli, [*args, "--check"])
    assert again.exit_code == 0 and "no drift" in again.output


def test_topics_shares_and_grants_drift_is_found_and_repaired(api: Api, app):
    """Every share kind and every grant the DB implies, broken behind the service's back."""
    rt, P = app.state.runtime, "/api/projects"
    b = rt.backends
    assert api.call("admin", "POST", P, json={"name": "partner"}).status_code == 201
    for topic in ("events", "clicks"):
        assert (
            api.call("owner", "POST", f"{P}/demo/topics", json={"name": topic}).status_code == 201
        )
    for path in ("datasets/Logs/shares", "topics/events/shares", "hive/shares"):
        body = {"project": "partner", "permission": "editable"}
        assert api.call("owner", "POST", f"{P}/demo/{path}", json=body).status_code == 201
    for ref in ("demo::Logs", "topics/demo::events", "hive/demo"):
        assert api.call("admin", "POST", f"{P}/partner/shared/{ref}/accept").status_code == 200
    assert reconcile(rt, dry_run=True).drift == []

    b.kafka.delete_topic("demo", "clicks")  # a topic the DB has
    b.kafka.create_topic("demo", "stray")  # a topic the DB does not have
    b.kafka.unshare_topic("demo", "events", "partner")  # share ACLs lost
    b.storage.revoke_group("demo", "Logs", "partner")  # dataset ACL lost
    b.storage.grant_group("demo", "Resources", "intruders", True)  # ACL without a share
    b.hive.revoke_share("demo", "partner", ["admin"])  # Hive share grant lost
    b.hive.grant_member("demo", "scientist", "data_owner")  # wrong role privileges
    b.hive.grant_share("demo", "elsewhere", ["mallory"], True)  # grant of no share

    found = problems(reconcile(rt, dry_run=True))
    assert found >= {
        ("kafka", "demo", "topic 'clicks' missing"),
        ("kafka", "demo", "topic 'stray' is not in the DB"),
        ("kafka", "demo", "share of topic 'events' with 'partner': ACLs of 'admin' missing"),
        ("storage", "demo", "share of 'Logs' with 'partner' missing or wrong in its ACL"),
        ("storage", "demo", "ACL of 'Resources' grants 'intruders' without a share"),
        ("hive", "demo", "privileges of 'partner__admin' missing or wrong"),
        ("hive", "demo", "privileges of 'demo__scientist' missing or wrong"),
        ("hive", "demo", "privileges of 'elsewhere__mallory' granted by nothing"),
    }, found
    assert all(d.repaired for d in reconcile(rt).drift)
    assert reconcile(rt, dry_run=True).drift == []
    assert {t.name for t in b.kafka.list_topics("demo")} == {"events", "clicks"}
    assert b.storage.share_groups("demo", "Logs") == {"partner": True}
    assert b.storage.share_groups("demo", "Resources") == {}
    grants = b.hive.list_grants("demo")
    assert set(grants["partner__admin"]) == {"SELECT", "INSERT"}
    assert set(grants["demo__scientist"]) == {"SELECT", "INSERT"}
    assert "elsewhere__mallory" not in grants


def test_stray_share_acls_on_a_topic_are_revoked(api: Api, app):
    rt, P = app.state.runtime, "/api/projects"
    assert api.call("admin", "POST", P, json={"name": "partner"}).status_code == 201
    assert api.call("owner", "POST", f"{P}/demo/topics", json={"name": "events"}).status_code == 201
    rt.backends.kafka.share_topic("demo", "events", "partner", ["admin"], True)  # no share row
    found = problems(reconcile(rt, dry_run=True))
    assert (
        "kafka",
        "demo",
        "'User:partner__admin' holds ACLs on topic 'events' without a share",
    ) in found
    reconcile(rt)
    assert reconcile(rt, dry_run=True).drift == []
