"""Host plan and inventory (hops_cloud.layout, hops_cloud.inventory): pure functions, checked
against the repository's own example inventory, its inventory reader, and the real
preflight play of site.yml."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hops_cloud.inventory import (
    Connection,
    InventoryHost,
    build_inventory,
    render_inventory,
    ssh_common_args,
    ssh_config,
)
from hops_cloud.layout import group_members, plan_hosts
from hops_deploy.topology import load_inventory
from hops_platform.host_groups import GROUPS
from tests.deploy.test_preflight import SECRETS
from tests.stacks.cloud.conftest import REPO

PLAYBOOK = shutil.which("ansible-playbook", path=str(Path(sys.executable).parent))


def inventory_for(plan, connection: Connection) -> dict:
    hosts = [
        InventoryHost(
            name=h.name,
            groups=h.groups,
            address=f"10.0.16.{10 + i}",
            gpu=h.gpu,
            target_id=f"i-{i:017x}",
        )
        for i, h in enumerate(plan)
    ]
    return build_inventory(hosts, connection, nvidia_driver_version="550.127.05")


SSM = Connection(kind="ssm", user="admin", region="eu-north-1")
BASTION = Connection(kind="bastion", user="admin", bastion_address="198.51.100.7")


def test_one_head_two_workers_one_gpu_is_the_example_layout():
    example = load_inventory(REPO / "inventories" / "example" / "hosts.yml")
    members = group_members(plan_hosts(1, 2, 1, 3))
    for group in GROUPS:
        assert members[group] == example.groups.get(group, []), group


def test_a_single_host_carries_every_group():
    (host,) = plan_hosts(1, 0, 0, 1)
    assert host.name == "head1"
    assert set(host.groups) == set(GROUPS) - {"kubernetes_workers"}


def test_head_services_are_spread_over_three_heads():
    members = group_members(plan_hosts(3, 2, 0, 3))
    assert members["hopsworks_api"] == members["metadata_db"] == members["hive"] == ["head1"]
    assert members["namenodes"] == ["head2"]
    assert members["resourcemanagers"] == ["head3"]
    assert members["kubernetes_control"] == ["head1"]
    assert members["zookeeper"] == ["head1", "head2", "head3"]
    assert members["spark"] == ["head1", "worker1", "worker2"]
    assert members["datanodes"] == ["worker1", "worker2"]


def test_gpu_workers_are_gpu_nodemanagers_and_kubernetes_workers():
    plan = plan_hosts(1, 1, 2, 1)
    gpus = [h for h in plan if h.role == "gpu-worker"]
    assert [h.name for h in gpus] == ["gpu1", "gpu2"]
    for host in gpus:
        assert host.gpu and host.datanode
        assert host.groups == ("datanodes", "nodemanagers", "kubernetes_workers")


def test_inventory_marks_gpu_hosts_and_addresses_every_host():
    inventory = inventory_for(plan_hosts(1, 2, 1, 3), BASTION)
    hosts = inventory["all"]["hosts"]
    assert hosts["gpu1"]["gpu"] is True
    assert hosts["gpu1"]["nvidia_driver_version"] == "550.127.05"
    assert "gpu" not in hosts["worker1"]
    assert [h["ansible_host"] for h in hosts.values()] == [
        "10.0.16.10",
        "10.0.16.11",
        "10.0.16.12",
        "10.0.16.13",
    ]
    assert set(inventory["all"]["children"]) == set(GROUPS)


def test_bastion_inventory_jumps_through_the_bastion():
    inventory = inventory_for(plan_hosts(1, 2, 1, 3), BASTION)
    assert inventory["all"]["vars"]["ansible_ssh_common_args"] == "-o ProxyJump=admin@198.51.100.7"
    assert inventory["all"]["vars"]["ansible_user"] == "admin"


def test_ssm_inventory_runs_ssh_inside_an_ssm_session_per_host():
    inventory = inventory_for(plan_hosts(1, 2, 0, 3), SSM)
    assert "ansible_ssh_common_args" not in inventory["all"]["vars"]
    args = shlex.split(inventory["all"]["hosts"]["worker2"]["ansible_ssh_common_args"])
    assert args[0] == "-o"
    assert shlex.split(args[1].removeprefix("ProxyCommand=")) == [
        "aws",
        "ssm",
        "start-session",
        "--target",
        f"i-{2:017x}",
        "--document-name",
        "AWS-StartSSHSession",
        "--parameters",
        "portNumber=%p",
        "--region",
        "eu-north-1",
    ]


def test_ssm_needs_instance_ids():
    with pytest.raises(ValueError, match="needs the instance id"):
        ssh_common_args(InventoryHost("head1", (), "10.0.0.1"), SSM)


def test_rendered_inventory_reads_back_as_the_same_topology(tmp_path: Path):
    path = tmp_path / "hosts.yml"
    path.write_text(render_inventory(inventory_for(plan_hosts(1, 2, 1, 3), SSM)))
    assert "head1:\n" in path.read_text()  # group members written as in inventories/example
    topology = load_inventory(path).topology()
    assert topology["nodemanagers"] == [
        {"name": "worker1", "address": "10.0.16.11", "gpu": False},
        {"name": "worker2", "address": "10.0.16.12", "gpu": False},
        {"name": "gpu1", "address": "10.0.16.13", "gpu": True},
    ]
    assert topology["hopsworks_api"] == [{"name": "head1", "address": "10.0.16.10", "gpu": False}]


def test_ssh_config_takes_the_same_route():
    host = InventoryHost("head1", (), "10.0.16.10", target_id="i-0abc")
    assert ssh_config("hops-api", host, BASTION) == (
        "Host hops-api\n  HostName 10.0.16.10\n  User admin\n  ProxyJump admin@198.51.100.7\n"
    )
    assert "  ProxyCommand aws ssm start-session --target i-0abc " in ssh_config(
        "hops-api", host, SSM
    )


def preflight(path: Path) -> subprocess.CompletedProcess[str]:
    """With the secrets as the stack passes them (configure.py: `-e @secrets.json`)."""
    secrets = path.parent / "secrets.json"
    secrets.write_text(json.dumps({**SECRETS, "hdfs_keystore_password": "kdT3-hdfs-ks-4Rt"}))
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    return subprocess.run(
        [
            PLAYBOOK,
            "-i",
            str(path),
            "site.yml",
            "--tags",
            "always",
            "-e",
            "ansible_connection=local",
            "-e",
            f"@{secrets}",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.skipif(PLAYBOOK is None, reason="ansible-core is not installed")
def test_the_real_preflight_accepts_the_generated_inventory(tmp_path: Path):
    """site.yml's preflight (tag always) checks groups, dependencies, the ZooKeeper quorum,
    GPU driver versions and port clashes; it connects nowhere. One head carrying every
    group (the most ports on one host) plus a GPU worker; one run, as ansible-playbook
    takes seconds (tests/deploy/test_preflight.py shows each refusal)."""
    path = tmp_path / "hosts.yml"
    path.write_text(render_inventory(inventory_for(plan_hosts(1, 0, 1, 1), BASTION)))
    result = preflight(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "The inventory describes a platform that can run" in result.stdout
    for host in yaml.safe_load(path.read_text())["all"]["hosts"]:
        recap = next(line for line in result.stdout.splitlines() if line.startswith(host + " "))
        assert "failed=0" in recap, recap
