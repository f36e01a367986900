"""Ansible and pyinfra deploy the same one-host platform on two lab hosts, with the same
variables (components/hops_deploy/twins.py): every config file either tool writes is
byte-identical (with the same owner and mode), both platforms run, and a second run of
either tool changes nothing. On the Ansible host the roles are applied by their molecule
scenarios (roles/<role>/molecule/default, lab hosts as delegated platforms), in site.yml's
order: each converges, converges again without a change, and passes its testinfra checks.
The download roles are left out by both (they have no scenario), as on every lab.

Takes several minutes; the two deploys run at the same time. Deselect with `-m "not lab"`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hops_deploy.lab import lifecycle, sshkeys
from hops_deploy.molecule_run import run_scenarios, scenario_roles
from hops_deploy.pyinfra_run import DeployRun, run_pyinfra
from hops_deploy.twins import TWIN_NAME, write_twin

REPO = Path(__file__).resolve().parents[2]
NAME = "twin"
# Every file the roles the lab runs render from their templates on a one-host platform.
CONFIG_FILES = (
    "/etc/security/limits.d/90-hops.conf",
    "/etc/mysql/mariadb.conf.d/90-hops.cnf",
    "/etc/mysql/hops-accounts.sql",
    "/etc/zookeeper/conf/zoo.cfg",
    "/srv/hops/zookeeper/myid",
    "/etc/systemd/system/hops-zookeeper.service",
    "/etc/hops/spark/spark-defaults.conf",
    "/etc/hops/spark/daemons.conf",
    "/etc/hops/spark/spark-env.sh",
    "/etc/profile.d/hops-spark.sh",
    "/etc/systemd/system/spark-master.service",
    "/etc/systemd/system/spark-worker.service",
    "/etc/systemd/system/spark-history.service",
    "/etc/hops/hive/hive-site.xml",
    "/etc/hops/hive/schematool.properties",
    "/etc/hops/hive/metastore-db.cnf",
    "/etc/hops/hive/thriftserver/spark-defaults.conf",
    "/etc/hops/hive/thriftserver/hive-site.xml",
    "/etc/systemd/system/hive-metastore.service",
    "/etc/systemd/system/hive-server2.service",
    "/etc/hops/hopsworks_api.env",
    "/etc/systemd/system/hopsworks-api.service",
)
UNITS = (
    "mariadb",
    "hops-zookeeper",
    "spark-master",
    "spark-worker",
    "spark-history",
    "hive-metastore",
    "hive-server2",
    "hopsworks-api",
)
HOSTS_BLOCK = "sed -n '/^# BEGIN hopsworks-iac hosts$/,/^# END hopsworks-iac hosts$/p' /etc/hosts"


def templates_of_lab_roles() -> int:
    roles = ("common", "metadata_db", "zookeeper", "spark", "hive", "hopsworks_api")
    return sum(len(list((REPO / "roles" / r / "templates").glob("*.j2"))) for r in roles)


@pytest.fixture(scope="module")
def twins(
    lab_machine: Path, wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict]:
    base = tmp_path_factory.mktemp("twins")
    lifecycle.down(NAME, lab_machine)
    lab = lifecycle.up(
        lifecycle.LabConfig(name=NAME, hosts=2, cache_dir=lab_machine, inventory_dir=base / "lab")
    )
    try:
        lab_inventory = Path(lab.inventory or "")
        group_vars = REPO / "inventories" / "lab" / "group_vars"
        ansible_inv = write_twin(lab_inventory, f"{NAME}1", base / "ansible", group_vars)
        pyinfra_inv = write_twin(lab_inventory, f"{NAME}2", base / "pyinfra", group_vars)
        skip = {"hops_skip_downloads": "true"}

        # Ansible: every role's molecule scenario in site.yml's order (converge, idempotence,
        # testinfra verify); pyinfra: the whole deploy, then again. The two side by side.
        def pyinfra_twice() -> tuple[DeployRun, DeployRun | None]:
            first = run_pyinfra(pyinfra_inv, skip, log=base / "pyinfra-first.log")
            if first.returncode != 0:
                return first, None
            return first, run_pyinfra(pyinfra_inv, skip, log=base / "pyinfra-second.log")

        with ThreadPoolExecutor(2) as pool:
            molecule = pool.submit(
                run_scenarios, ansible_inv.parent, TWIN_NAME, log=base / "molecule.log"
            )
            pyinfra = pool.submit(pyinfra_twice)
            scenarios, (first, second) = molecule.result(), pyinfra.result()
        failed = [run for run in scenarios if run.returncode != 0]
        assert not failed, failed[0].explain()
        assert first.returncode == 0 and second is not None, first.explain()
        print(
            "molecule: "
            + ", ".join(f"{run.role} {run.seconds:.0f} s" for run in scenarios)
            + f"; pyinfra {first.seconds:.0f} s, re-run {second.seconds:.0f} s"
        )
        key = Path(lab.ssh_key or "")
        addresses = {h.name: h.address for h in lab.hosts}
        yield {
            "scenarios": scenarios,
            "first": first,
            "second": second,
            "ansible": (key, addresses[f"{NAME}1"]),
            "pyinfra": (key, addresses[f"{NAME}2"]),
        }
    finally:
        if os.environ.get("HOPS_LAB_KEEP") != "1":
            lifecycle.down(NAME, lab_machine)


def remote(target: tuple[Path, str], command: str) -> str:
    result = sshkeys.run(target[0], target[1], ["bash", "-c", command])
    assert result.returncode == 0, result.stderr
    return result.stdout


def describe(target: tuple[Path, str], path: str) -> str:
    """Owner, group, mode and the bytes (base64) of a file."""
    return remote(target, f"stat -c '%U:%G %a' {path} && base64 -w0 {path}")


@pytest.mark.lab
def test_every_config_file_is_byte_identical(twins: dict):
    assert len(CONFIG_FILES) == templates_of_lab_roles() - 1  # hosts.j2 is a block, below
    differ = [
        path
        for path in CONFIG_FILES
        if describe(twins["ansible"], path) != describe(twins["pyinfra"], path)
    ]
    assert differ == []
    ansible_block = remote(twins["ansible"], HOSTS_BLOCK)
    assert ansible_block.count("\n") >= 3
    assert ansible_block == remote(twins["pyinfra"], HOSTS_BLOCK)


@pytest.mark.lab
@pytest.mark.parametrize("tool", ["ansible", "pyinfra"])
def test_both_platforms_run(twins: dict, tool: str):
    states = remote(twins[tool], f"systemctl is-active {' '.join(UNITS)} || true").split()
    assert states == ["active"] * len(UNITS)
    health = remote(
        twins[tool],
        "curl --fail --silent --cacert /etc/hops/pki/ca-chain.pem https://127.0.0.1:8181/api/health",
    )
    assert '"status"' in health
    databases = remote(
        twins[tool],
        "cd /srv/hops/hive && SPARK_HOME=/opt/hops/spark-venv/lib/python3.11/site-packages/pyspark"
        " /opt/hops/spark-venv/bin/beeline -u 'jdbc:hive2://127.0.0.1:10000/default;ssl=true;"
        "sslTrustStore=/etc/hops/hive/truststore.p12' -n hops"
        " --silent=true --outputformat=csv2 -e 'SHOW DATABASES'",
    )
    assert "default" in databases.split()


@pytest.mark.lab
def test_every_role_that_runs_here_passes_its_molecule_scenario(twins: dict):
    """Converge, idempotence (a second converge changes nothing) and verify, role by role:
    each scenario's steps ran and succeeded."""
    assert [run.role for run in twins["scenarios"]] == scenario_roles(REPO)
    assert len(twins["scenarios"]) == 7
    for run in twins["scenarios"]:
        for step in ("converge", "idempotence", "verify"):
            assert f"{step}: Executed: Successful" in run.output, (run.role, step)


@pytest.mark.lab
def test_a_second_run_of_pyinfra_changes_nothing(twins: dict):
    pyinfra = twins["second"]
    assert pyinfra.returncode == 0
    assert pyinfra.operations > 50 and pyinfra.changed == 0, pyinfra.output[-4000:]
