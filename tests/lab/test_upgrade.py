"""upgrade.yml on a lab host: the platform deployed by an earlier commit (UPGRADE_FROM: its
own site.yml, roles and deploy code), used by two people (accounts, a project with a
member, a file, a dataset shared with a second project, certificates), then moved to this
checkout by upgrade.yml: a backup first, the schema migrated (0020 adds the instances'
versions), every account, project, member, file, share and certificate intact, every live
instance on the new version, reconcile clean, the audit chain verifying; a second run of
upgrade.yml changes nothing.

One host with the metadata DB and the control service (the other groups empty): what an
upgrade of the service's code touches. Several minutes; deselect with `-m "not lab"`.
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from hops_deploy.playbook import PlaybookRun, run_playbook
from hops_deploy.topology import load_inventory
from hops_platform.sources import source_version
from tests.support import readme
from tests.support.lab import lab_up

testinfra = pytest.importorskip("testinfra")
REPO = Path(__file__).resolve().parents[2]
NAME = "upgrade"
# The newest commit before migration 0020 whose site.yml passed in the lab (stop 27). Its
# dependencies are the wheelhouse's (the lab hosts have no route out): move this forward
# when the pinned requirements change.
UPGRADE_FROM = "dcbdf1dfe58ca7e1eda4193429fc4e334fc74d4a"
KEPT_GROUPS = ("metadata_db", "hopsworks_api")
OWNER = {"email": "owner@example.org", "password": "correct horse battery"}
SCIENTIST = {"email": "scientist@example.org", "password": "staple battery horse"}
NOTES = b"written before the upgrade\n" * 64
LOGIN = "set -a && . /etc/hops/hopsworks_api.env && set +a && /opt/hops/venv/bin/hops "


def earlier_checkout(dest: Path) -> Path:
    """UPGRADE_FROM's tree, as `git archive` gives it (no built web UI: its wheel is built
    without one, `hops_ship_without_ui`)."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", UPGRADE_FROM],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    return dest


def session(api: httpx.Client, who: dict[str, str]) -> dict[str, str]:
    token = api.post("/api/auth/login", json=who).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def use_the_platform(api: httpx.Client) -> dict:
    """What the two people make before the upgrade, and what the test expects back."""
    for who in (OWNER, SCIENTIST):
        assert api.post("/api/auth/register", json=who).status_code == 201
    owner, scientist = session(api, OWNER), session(api, SCIENTIST)
    for project in ("kept", "partner"):
        created = api.post("/api/projects", json={"name": project}, headers=owner)
        assert created.status_code == 201, created.text
    member = {"email": SCIENTIST["email"], "role": "data_scientist"}
    assert api.post("/api/projects/kept/members", json=member, headers=owner).status_code == 201
    put = api.put(
        "/api/projects/kept/datasets/Resources/files/notes.txt", content=NOTES, headers=owner
    )
    assert put.status_code == 201, put.text
    offer = {"project": "partner", "permission": "read_only"}
    offered = api.post("/api/projects/kept/datasets/Resources/shares", json=offer, headers=owner)
    assert offered.status_code == 201, offered.text
    accepted = api.post("/api/projects/partner/shared/kept::Resources/accept", headers=owner)
    assert accepted.is_success, accepted.text
    credentials = api.get("/api/projects/kept/credentials", headers=scientist)
    assert credentials.status_code == 200, credentials.text
    return {"serial": credentials.json()["serial"], "ca": credentials.json()["ca_chain"]}


@pytest.fixture(scope="module")
def upgraded(
    lab_machine: Path, wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict]:
    base = tmp_path_factory.mktemp("upgrade")
    with lab_up(NAME, 1, lab_machine, base) as inventory:
        doc = yaml.safe_load(inventory.read_text())
        for group, members in doc["all"]["children"].items():
            if group not in KEPT_GROUPS:
                members["hosts"] = {}
        doc["all"]["vars"]["hopsworks_api_registration"] = "open"
        inventory.write_text(yaml.safe_dump(doc))

        earlier = earlier_checkout(base / "earlier")
        first = run_playbook(
            "site.yml",
            inventory,
            ["-e", "hops_ship_without_ui=true"],
            log=base / "earlier.log",
            checkout=earlier,
            extra_env={"PYTHONPATH": str(earlier / "components")},
        )
        assert first.returncode == 0, first.explain()

        host = testinfra.get_host(f"ansible://{NAME}1?ansible_inventory={inventory}", sudo=False)
        chain = base / "ca.pem"
        chain.write_text(host.file("/etc/hops/pki/ca-chain.pem").content_string)
        address = load_inventory(inventory).variables(f"{NAME}1")["ansible_host"]
        url = f"https://{address}:8181"
        with httpx.Client(base_url=url, verify=str(chain), timeout=120) as api:
            before = use_the_platform(api)

        work = readme.copy_of_checkout(base / "checkout")
        (work / ".venv").symlink_to(REPO / ".venv")
        upgrade = run_playbook("upgrade.yml", inventory, log=base / "upgrade.log", checkout=work)
        assert upgrade.returncode == 0, upgrade.explain()
        again = run_playbook("upgrade.yml", inventory, log=base / "again.log", checkout=work)
        print(f"earlier commit deployed in {first.seconds:.0f} s; upgrade {upgrade.seconds:.0f} s;")
        print(f"re-run {again.seconds:.0f} s")
        yield {
            "host": host,
            "url": url,
            "chain": chain,
            "before": before,
            "upgrade": upgrade,
            "again": again,
            "work": work,
        }


def as_service(upgraded: dict, command: str):  # type: ignore[no-untyped-def]
    return upgraded["host"].run("sudo -u hops bash -c %s", LOGIN + command)


@pytest.mark.lab
def test_the_schema_is_migrated_and_a_second_run_changes_nothing(upgraded: dict) -> None:
    migrated = upgraded["host"].run(
        "mariadb -N hopsworks -e 'SELECT version_num FROM alembic_version'"
    )
    assert migrated.stdout.split() == ["0020"], migrated.stdout + migrated.stderr
    migration = "TASK [hopsworks_api : The metadata DB schema is migrated]"
    assert migration in upgraded["upgrade"].changed_tasks()
    again: PlaybookRun = upgraded["again"]
    assert again.returncode == 0, again.explain()
    assert set(again.changed.values()) == {0}, again.changed_tasks()


@pytest.mark.lab
def test_a_backup_was_taken_before_the_upgrade(upgraded: dict) -> None:
    taken = sorted((upgraded["work"] / "backups").iterdir())
    assert len(taken) == 1  # the re-run had nothing to upgrade, so nothing to back up
    manifest = json.loads((taken[0] / "manifest.json").read_text())
    assert set(manifest["sha256"]) == {"metadata.sql.gz", "state.tar.gz"}


@pytest.mark.lab
def test_every_instance_runs_the_new_version(upgraded: dict) -> None:
    listed = as_service(upgraded, "admin instances --check-current --json")
    assert listed.rc == 0, listed.stdout + listed.stderr
    instances = json.loads(listed.stdout)["instances"]
    assert instances and {i["version"] for i in instances} == {source_version(upgraded["work"])}


@pytest.mark.lab
def test_reconcile_is_clean_and_the_audit_chain_verifies(upgraded: dict) -> None:
    for command in ("reconcile --check", "audit verify"):
        result = as_service(upgraded, command)
        assert result.rc == 0, (command, result.stdout + result.stderr)


@pytest.mark.lab
def test_accounts_projects_members_files_shares_and_certificates_are_intact(
    upgraded: dict,
) -> None:
    before = upgraded["before"]
    with httpx.Client(base_url=upgraded["url"], verify=str(upgraded["chain"]), timeout=120) as api:
        owner, scientist = session(api, OWNER), session(api, SCIENTIST)
        projects = api.get("/api/projects", headers=owner).json()["items"]
        assert sorted(p["name"] for p in projects) == ["kept", "partner"]
        members = api.get("/api/projects/kept/members", headers=owner).json()["items"]
        assert {(m["email"], m["role"]) for m in members} == {
            (OWNER["email"], "data_owner"),
            (SCIENTIST["email"], "data_scientist"),
        }
        listed = api.get("/api/projects/kept/datasets/Resources/files", headers=scientist)
        assert "notes.txt" in {f["name"] for f in listed.json()["items"]}, listed.text
        read = api.get("/api/projects/kept/datasets/Resources/files/notes.txt", headers=owner)
        assert read.status_code == 200 and read.content == NOTES
        shared = api.get(
            "/api/projects/partner/datasets/kept::Resources/files/notes.txt", headers=owner
        )
        assert shared.status_code == 200 and shared.content == NOTES
        credentials = api.get("/api/projects/kept/credentials", headers=scientist).json()
    # the same certificate, still valid, from the same CA
    assert credentials["serial"] == before["serial"]
    assert credentials["ca_chain"] == before["ca"]
