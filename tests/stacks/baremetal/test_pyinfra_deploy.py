"""The pyinfra deploy's pieces that need no host: the inventory translation, which plays a
host gets, the twin inventories' variables, and reading pyinfra's results table. The deploy
itself runs on lab hosts in tests/lab/test_twins.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hops_deploy.pyinfra_run import parse_totals
from hops_deploy.topology import load_inventory
from hops_deploy.twins import twin_inventory
from hops_deploy.variables import host_variables
from hops_pyinfra.context import HostContext
from hops_pyinfra.hosts import connection_data, preflight_problems, pyinfra_groups
from hops_pyinfra.site import PLAYS, plays_for
from tests.deploy.test_preflight import CASES as PREFLIGHT_CASES

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "inventories" / "example" / "hosts.yml"
LAB_DOC = {
    "all": {
        "vars": {
            "ansible_user": "root",
            "ansible_ssh_private_key_file": "/k/id",
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
            "hops_pip_find_links": "http://10.9.0.1:3180/",
        },
        "hosts": {"lab1": {"ansible_host": "10.9.0.11"}, "lab2": {"ansible_host": "10.9.0.12"}},
        "children": {"metadata_db": {"hosts": {"lab1": None}}},
    }
}


def test_pyinfra_groups_follow_the_ansible_inventory():
    inventory = load_inventory(EXAMPLE)
    groups = pyinfra_groups(inventory)
    assert set(groups) == {g for g, hosts in inventory.groups.items() if hosts} - {"all"}
    names = [name for name, _ in groups["nodemanagers"][0]]
    assert names == inventory.groups["nodemanagers"]
    _, data = groups["metadata_db"][0][0]
    assert data["hops_inventory_name"] == "head1"


def test_ansible_connection_variables_become_pyinfra_ssh_data():
    data = connection_data(
        {
            "ansible_host": "10.0.0.5",
            "ansible_user": "admin",
            "ansible_port": 2222,
            "ansible_ssh_private_key_file": "/keys/id",
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
        }
    )
    assert data == {
        "ssh_hostname": "10.0.0.5",
        "ssh_user": "admin",
        "ssh_port": 2222,
        "ssh_key": "/keys/id",
        "ssh_strict_host_key_checking": "off",
        "ssh_known_hosts_file": "/dev/null",
    }


def test_a_local_inventory_runs_on_pyinfras_local_connector():
    groups = pyinfra_groups(load_inventory(REPO / "inventories" / "local" / "hosts.yml"))
    assert groups["metadata_db"][0][0][0] == "@local"


def test_download_groups_stop_the_deploy_naming_host_and_groups():
    context = HostContext(load_inventory(EXAMPLE), "gpu1")
    with pytest.raises(ValueError, match=r"gpu1 is in datanodes, nodemanagers, kubernetes_workers"):
        plays_for(context, skip_downloads=False)
    assert plays_for(context, skip_downloads=True) == ["common", "ca"]


def test_a_one_host_platform_gets_every_play_in_site_order(tmp_path: Path):
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(twin_inventory(LAB_DOC, "lab2")))
    roles = plays_for(HostContext(load_inventory(path), "hops"), skip_downloads=True)
    assert roles == [role for role, _, _ in PLAYS]
    site = yaml.safe_load((REPO / "site.yml").read_text())
    site_roles = [r["role"] for play in site for r in play["roles"] if r["role"] in roles]
    assert list(dict.fromkeys(site_roles)) == roles


def test_twins_differ_only_in_their_ssh_address(tmp_path: Path):
    """The premise of the byte-identical test: every variable of every role the lab runs is
    equal on the two twins, except the one no template reads."""
    resolved = []
    for lab_host in ("lab1", "lab2"):
        path = tmp_path / lab_host / "hosts.yml"
        path.parent.mkdir()
        path.write_text(yaml.safe_dump(twin_inventory(LAB_DOC, lab_host)))
        roles = ["hops", *(role for role, _, _ in PLAYS)]
        resolved.append(host_variables(load_inventory(path), "hops", roles))
    first, second = resolved
    assert first.pop("ansible_host") == "10.9.0.11" and second.pop("ansible_host") == "10.9.0.12"
    assert first == second
    assert first["hopsworks_api_bind_address"] == "127.0.0.1"
    assert first["hops_topology"]["hive"] == [
        {"name": "hops", "address": "127.0.0.1", "gpu": False}
    ]


def test_results_table_is_read():
    output = (
        "--> Results:\n"
        "    Operation      Hosts   Success   Error   No Change\n"
        "    Grand total    83      11        -       72\n"
    )
    assert parse_totals(output) == (83, 11, 0)
    assert parse_totals("--> pyinfra error: No hosts remaining!") == (0, 0, 0)


def test_a_good_inventory_passes_the_pyinfra_preflight(tmp_path: Path):
    from tests.deploy.test_preflight import GOOD, GPU_VARS, inventory

    assert preflight_problems(load_inventory(inventory(tmp_path, GOOD, GPU_VARS))) == []


@pytest.mark.parametrize(("change", "message"), PREFLIGHT_CASES)
def test_the_pyinfra_preflight_refuses_what_ansibles_refuses(tmp_path: Path, change, message):
    """The same cases as tests/deploy/test_preflight.py (real ansible-playbook), through
    the pyinfra deploy's inventory file, which raises before connecting to any host."""
    from tests.deploy.test_preflight import GOOD, GPU_VARS, inventory

    groups = {k: list(v) for k, v in GOOD.items()}
    host_vars = {"gpu": dict(GPU_VARS["gpu"])}
    all_vars: dict = {}
    change(groups, host_vars, all_vars)
    path = inventory(tmp_path, groups, host_vars, **all_vars)
    assert any(message in problem for problem in preflight_problems(load_inventory(path)))
    result = subprocess.run(
        [sys.executable, "-c", "import runpy; runpy.run_path('inventory.py')"],
        cwd=REPO / "stacks" / "baremetal",
        env={**os.environ, "HOPS_INVENTORY": str(path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0 and message in result.stderr, result.stderr[-2000:]
