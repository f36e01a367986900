"""Reconciliation: drift made behind the service's back is found, reported and repaired."""

from __future__ import annotations

import shutil

from typer.testing import CliRunner

from hopsworks_api.backends.kubernetes.base import KubeQuota
from hopsworks_api.cli import app as cli
from hopsworks_api.reconcile import reconcile
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
    fixed = runner.invoke(cli, args)
    assert fixed.exit_code == 0 and "ghost" in fixed.output
    again = runner.invoke(cli, args)
    assert "no drift" in again.output
