"""The preflight play refuses a wrong inventory before anything changes, naming the host
and the variable or group. It runs the real `site.yml` (tag `always` only) with
ansible-playbook against inventories that connect nowhere."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = shutil.which("ansible-playbook", path=str(Path(sys.executable).parent))
pytestmark = pytest.mark.skipif(PLAYBOOK is None, reason="ansible-core is not installed")

GOOD = {
    "metadata_db": ["head"],
    "hopsworks_api": ["head"],
    "zookeeper": ["head", "w1", "w2"],
    "hive": ["head"],
    "spark": ["head", "w1"],
    "nodemanagers": ["w1", "gpu"],
    "resourcemanagers": ["head"],
}


# what a real inventory keeps in its vault
SECRETS = {
    "hops_db_service_password": "kdT3-service-db-7Qw",
    "hops_db_hive_password": "kdT3-hive-db-9Zx",
    "yarn_keystore_password": "kdT3-yarn-ks-2Lp",
    "hops_keystore_password": "kdT3-jvm-ks-7Qw",
}


def inventory(tmp_path: Path, groups: dict, host_vars: dict | None = None, **all_vars) -> Path:
    hosts = {h for members in groups.values() for h in members}
    data = {
        "all": {
            "vars": {"ansible_connection": "local", **SECRETS, **all_vars},
            "hosts": {h: (host_vars or {}).get(h, {}) for h in sorted(hosts)},
            "children": {g: {"hosts": {h: {} for h in members}} for g, members in groups.items()},
        }
    }
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def preflight(path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    return subprocess.run(
        [PLAYBOOK, "-i", str(path), str(REPO / "site.yml"), "--tags", "always"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


GPU_VARS = {"gpu": {"gpu": True, "nvidia_driver_version": "550.127.05"}}


def test_a_good_inventory_passes(tmp_path: Path):
    result = preflight(inventory(tmp_path, GOOD, GPU_VARS))
    assert result.returncode == 0, result.stdout + result.stderr


# (change to GOOD's groups, host vars and all vars, expected message); the pyinfra deploy's
# preflight is checked against the same cases (tests/stacks/baremetal).
CASES = [
    (lambda g, v, a: g.pop("metadata_db"), "group 'metadata_db' has no host"),
    (
        lambda g, v, a: g.pop("resourcemanagers"),
        "group 'nodemanagers' has hosts but group 'resourcemanagers' it needs has none",
    ),
    (
        lambda g, v, a: g.update(zookeeper=["head", "w1"]),
        "group 'zookeeper' has 2 hosts; a quorum needs an odd number",
    ),
    (
        lambda g, v, a: v["gpu"].pop("nvidia_driver_version"),
        "host gpu: gpu: true but variable 'nvidia_driver_version' is not set",
    ),
    (
        lambda g, v, a: v["gpu"].update(gpu="yes please"),
        "host gpu: variable 'gpu' must be true or false",
    ),
    (
        lambda g, v, a: a.update(hopsworks_api_port=3306),
        "host head: conflicting ports: metadata_db_port and hopsworks_api_port are both 3306",
    ),
    (
        lambda g, v, a: a.update(metadata_db_galera_enabled=True),
        "metadata_db_galera_enabled needs 3, 5 ... hosts in group 'metadata_db', found 1",
    ),
    (
        lambda g, v, a: a.update(hops_db_service_password="change-me-service"),
        "secret 'hops_db_service_password' is still an example value (host head)",
    ),
    (
        lambda g, v, a: a.update(hops_db_hive_password=""),
        "secret 'hops_db_hive_password' is not set (host head)",
    ),
    (
        lambda g, v, a: a.update(yarn_keystore_password="Xy7-short"),
        "secret 'yarn_keystore_password' is shorter than 12 characters (host head)",
    ),
]


@pytest.mark.parametrize(("change", "message"), CASES)
def test_a_wrong_inventory_fails_naming_host_and_variable(tmp_path: Path, change, message):
    groups = {k: list(v) for k, v in GOOD.items()}
    host_vars = {"gpu": dict(GPU_VARS["gpu"])}
    all_vars: dict = {}
    change(groups, host_vars, all_vars)
    result = preflight(inventory(tmp_path, groups, host_vars, **all_vars))
    assert result.returncode != 0
    assert message in result.stdout, result.stdout[-3000:]
    for value in ("change-me-service", "Xy7-short", *SECRETS.values()):
        assert value not in result.stdout + result.stderr  # secrets are named, never shown
