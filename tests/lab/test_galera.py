"""The metadata DB as a 3-node MariaDB Galera cluster (Debian's galera-4) on lab hosts,
formed by site.yml (roles/metadata_db/tasks/galera.yml): the cluster has three members, a
write on one node is read on the others, a node killed with SIGKILL comes back (systemd
restarts it) and catches up, and the control service, given the three nodes, keeps
answering while the first one is gone.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from hops_deploy.playbook import PlaybookRun, run_site
from hops_deploy.topology import load_inventory
from hopsworks_api.config import Settings
from hopsworks_api.main import create_app
from tests.support.lab import lab_up

testinfra = pytest.importorskip("testinfra")
REPO = Path(__file__).resolve().parents[2]
NAME = "galera"
NODES = ("1", "2", "3")
TAGS = ["--tags", "common,ca,metadata_db"]
HOLD = "/run/systemd/system/mariadb.service.d"


@pytest.fixture(scope="module")
def cluster(
    lab_machine: Path, wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict]:
    """Three hosts, all in metadata_db with Galera on; the playbook run twice."""
    base = tmp_path_factory.mktemp("galera")
    with lab_up(NAME, 3, lab_machine, base) as inventory:
        doc = yaml.safe_load(inventory.read_text())
        doc["all"]["children"]["metadata_db"]["hosts"] = {f"{NAME}{n}": None for n in NODES}
        doc["all"]["vars"]["metadata_db_galera_enabled"] = True
        inventory.write_text(yaml.safe_dump(doc))
        first = run_site(inventory, TAGS, log=base / "first.log")
        assert first.returncode == 0, first.explain()
        second = run_site(inventory, TAGS, log=base / "second.log")
        print(f"Galera on 3 hosts: {first.seconds:.0f} s; re-run {second.seconds:.0f} s")
        yield {"inventory": inventory, "first": first, "second": second}


def node(cluster: dict, n: str):  # type: ignore[no-untyped-def]
    return testinfra.get_host(
        f"ansible://{NAME}{n}?ansible_inventory={cluster['inventory']}", sudo=False
    )


def address(cluster: dict, n: str) -> str:
    return load_inventory(cluster["inventory"]).variables(f"{NAME}{n}")["ansible_host"]


def status(cluster: dict, n: str, name: str) -> str:
    result = node(cluster, n).run("mariadb -N -B -e %s", f"SHOW GLOBAL STATUS LIKE '{name}'")
    return result.stdout.split("\t")[-1].strip() if result.rc == 0 else ""


def wait_for(condition, what: str, timeout: float = 180):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(1)
    raise AssertionError(f"{what} did not happen within {timeout:.0f} s")


@pytest.mark.lab
def test_three_members_and_a_second_run_changes_nothing(cluster: dict):
    for n in NODES:
        assert status(cluster, n, "wsrep_cluster_size") == "3"
        assert status(cluster, n, "wsrep_local_state_comment") == "Synced"
    second: PlaybookRun = cluster["second"]
    assert second.returncode == 0, second.explain()
    assert second.changed == {h: 0 for h in second.recap}, second.changed_tasks()


@pytest.mark.lab
def test_a_write_on_one_node_is_read_on_the_others(cluster: dict):
    writer = node(cluster, "1")
    wrote = writer.run(
        "mariadb hopsworks -e 'CREATE TABLE IF NOT EXISTS galera_probe (id INT PRIMARY KEY, "
        'note TEXT); REPLACE INTO galera_probe VALUES (1, "written on node 1")\''
    )
    assert wrote.rc == 0, wrote.stderr
    for n in ("2", "3"):
        # wsrep_sync_wait (the role's setting) makes the read wait for node 1's commit
        read = node(cluster, n).run("mariadb -N hopsworks -e 'SELECT note FROM galera_probe'")
        assert read.stdout.strip() == "written on node 1", read.stderr


@pytest.mark.lab
def test_the_service_answers_while_a_killed_node_rejoins(cluster: dict, tmp_path: Path):
    chain = tmp_path / "ca.pem"
    chain.write_text(node(cluster, "1").file("/etc/hops/pki/ca-chain.pem").content_string)
    secrets = yaml.safe_load((REPO / "inventories/lab/group_vars/all/backends.yml").read_text())
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=(
            f"mysql+pymysql://hopsworks:{secrets['hops_db_service_password']}"
            f"@{address(cluster, '1')}:3306/hopsworks?charset=utf8mb4&ssl_ca={chain}"
        ),
        database_failover_hosts=[f"{address(cluster, n)}:3306" for n in ("2", "3")],
    )
    app = create_app(settings)
    try:
        with TestClient(app) as api:
            owner = {"email": "owner@example.org", "password": "correct horse battery"}
            assert api.post("/api/auth/register", json=owner).status_code == 201
            token = api.post("/api/auth/login", json=owner).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            assert api.post("/api/projects", json={"name": "before"}, headers=headers).is_success

            # A crash: SIGKILL. systemd would restart the node within seconds (Restart=
            # on-abort); a runtime drop-in holds it down until the test has used the
            # cluster without it.
            first = node(cluster, "1")
            held = first.run(
                "mkdir -p %s && printf '[Service]\\nRestart=no\\n' > %s/hold.conf && "
                "systemctl daemon-reload && pkill -KILL -x mariadbd",
                HOLD,
                HOLD,
            )
            assert held.rc == 0, held.stderr
            wait_for(lambda: status(cluster, "2", "wsrep_cluster_size") == "2", "node 1 gone")
            # The service goes on through node 2 (node 1 refuses connections).
            created = api.post("/api/projects", json={"name": "during"}, headers=headers)
            assert created.status_code == 201, created.text
            listed = api.get("/api/projects", headers=headers).json()["items"]
            assert {p["name"] for p in listed} == {"before", "during"}

            # Started again, the node rejoins and catches up.
            back = first.run("rm -r %s && systemctl daemon-reload && systemctl start mariadb", HOLD)
            assert back.rc == 0, back.stderr
            wait_for(lambda: status(cluster, "1", "wsrep_cluster_size") == "3", "node 1 back")
            wait_for(
                lambda: status(cluster, "1", "wsrep_local_state_comment") == "Synced",
                "node 1 synced",
            )
            seen = node(cluster, "1").run("mariadb -N hopsworks -e 'SELECT name FROM projects'")
            assert {"before", "during"} <= set(seen.stdout.split()), seen.stderr
            assert api.get("/api/projects", headers=headers).status_code == 200
    finally:
        app.state.runtime.engine.dispose()
