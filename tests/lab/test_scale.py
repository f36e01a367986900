"""scale.yml on lab hosts: a running Spark cluster (master and one worker, deployed by
site.yml with the tags Spark needs) gets a third host (`hops-lab add`, in the spark
group); scale.yml makes it a worker the master lists as ALIVE, the master, the history
server and the old worker keep running without a restart, the running hosts change
nothing but their /etc/hosts, and a second run changes nothing.

Takes several minutes (Java and pyspark are installed on every host); deselect with
`-m "not lab"`. HOPS_LAB_KEEP=1 leaves the lab up afterwards.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hops_deploy.lab import add, sshkeys
from hops_deploy.lab import state as lab_state
from hops_deploy.lab.state import LabState
from hops_deploy.playbook import PlaybookRun, run_playbook, run_site
from tests.support.lab import lab_up

NAME = "scale"
MASTER, OLD_WORKER, NEW_WORKER = f"{NAME}1", f"{NAME}2", f"{NAME}3"
# What Spark needs of site.yml: the base, the CA and host certificates, Spark itself.
TAGS = ["--tags", "common,ca,spark"]
DAEMONS = {MASTER: ("spark-master", "spark-history"), OLD_WORKER: ("spark-worker",)}
ETC_HOSTS_TASK = "TASK [common : Every platform host is named in /etc/hosts]"


def run(lab: LabState, host: str, command: str, timeout: float = 120) -> str:
    """A shell command on a lab host as root; its stdout (fails the test on exit != 0)."""
    result = sshkeys.run(
        Path(lab.ssh_key or ""), lab.host(host).address, ["sh", "-c", command], timeout
    )
    assert result.returncode == 0, f"{host}: {command}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def master_state(lab: LabState) -> dict:
    """The master's /json/ over HTTPS with the platform CA (its web UI)."""
    address = lab.host(MASTER).address
    return json.loads(
        run(
            lab,
            MASTER,
            f"curl -sf --cacert /etc/hops/pki/ca-chain.pem https://{address}:8480/json/",
        )
    )


def alive_workers(lab: LabState) -> set[str]:
    """Addresses of the workers the master lists as ALIVE (empty while it starts)."""
    try:
        state = master_state(lab)
    except (AssertionError, json.JSONDecodeError):
        return set()
    return {w["host"] for w in state.get("workers", []) if w.get("state") == "ALIVE"}


def wait_for_workers(lab: LabState, hosts: set[str], timeout: float = 600) -> None:
    """Poll until the master lists exactly these hosts' workers as ALIVE (a worker
    registers some 40 s after its start on an idle machine; CI shares 2 cores)."""
    wanted = {lab.host(h).address for h in hosts}
    deadline = time.monotonic() + timeout
    while (seen := alive_workers(lab)) != wanted:
        if time.monotonic() > deadline:
            raise AssertionError(f"alive workers {sorted(seen)}, expected {sorted(wanted)}")
        time.sleep(5)


def daemons(lab: LabState) -> dict[str, str]:
    """Each running daemon's main PID, start time and restart count, to compare."""
    found = {}
    for host, units in DAEMONS.items():
        for unit in units:
            found[f"{host}/{unit}"] = run(
                lab,
                host,
                f"systemctl show -p ActiveState -p MainPID -p ActiveEnterTimestamp "
                f"-p NRestarts {unit}.service",
            )
    return found


def changed_on(run_: PlaybookRun, host: str) -> set[str]:
    """The tasks that reported a change on `host` itself (not delegated from another)."""
    found, task = set(), ""
    for line in run_.output.splitlines():
        if line.startswith("TASK ["):
            task = line.split("]", 1)[0] + "]"
        elif re.match(rf"changed: \[{re.escape(host)}\]", line):
            found.add(task)
    return found


@pytest.fixture(scope="module")
def scaled(
    lab_machine: Path, wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict]:
    """Two hosts running Spark (site.yml), a third added to the spark group, scale.yml run
    twice; the daemons' state before and after."""
    base = tmp_path_factory.mktemp("scale")
    with lab_up(NAME, 2, lab_machine, base) as inventory:
        lab = lab_state.load(lab_machine, NAME)
        assert lab is not None
        deployed = run_site(inventory, TAGS, log=base / "site.log")
        assert deployed.returncode == 0, deployed.explain()
        wait_for_workers(lab, {OLD_WORKER})
        before = daemons(lab)

        added = add.add(NAME, ["spark"], lab_machine)
        assert added.name == NEW_WORKER
        lab = lab_state.load(lab_machine, NAME)
        assert lab is not None
        first = run_playbook("scale.yml", inventory, log=base / "scale-first.log")
        assert first.returncode == 0, first.explain()
        wait_for_workers(lab, {OLD_WORKER, NEW_WORKER})
        second = run_playbook("scale.yml", inventory, log=base / "scale-second.log")
        print(
            f"site.yml (Spark tags) on 2 hosts: {deployed.seconds:.0f} s; scale.yml adding a "
            f"worker {first.seconds:.0f} s; re-run {second.seconds:.0f} s"
        )
        yield {
            "lab": lab,
            "first": first,
            "second": second,
            "before": before,
            "after": daemons(lab),
        }


@pytest.mark.lab
def test_the_master_lists_the_new_worker_alive(scaled: dict) -> None:
    lab = scaled["lab"]
    state = master_state(lab)
    assert state["status"] == "ALIVE" and state["aliveworkers"] == 2, state
    assert alive_workers(lab) == {lab.host(OLD_WORKER).address, lab.host(NEW_WORKER).address}
    # the new host is a worker only: the master and history server stay on the first host
    units = run(lab, NEW_WORKER, "systemctl list-unit-files 'spark-*' --no-legend")
    assert "spark-worker.service" in units and "spark-master" not in units, units


@pytest.mark.lab
def test_the_running_daemons_were_not_restarted(scaled: dict) -> None:
    assert scaled["after"] == scaled["before"]
    assert all("ActiveState=active" in shown for shown in scaled["after"].values())


@pytest.mark.lab
def test_the_running_hosts_only_learn_the_new_name(scaled: dict) -> None:
    first: PlaybookRun = scaled["first"]
    for host in (MASTER, OLD_WORKER):
        assert changed_on(first, host) <= {ETC_HOSTS_TASK}, changed_on(first, host)
        assert NEW_WORKER in run(scaled["lab"], host, "getent hosts " + NEW_WORKER)
    assert first.changed[NEW_WORKER] > 0


@pytest.mark.lab
def test_a_second_run_changes_nothing(scaled: dict) -> None:
    second: PlaybookRun = scaled["second"]
    assert second.returncode == 0, second.explain()
    assert set(second.recap) == {MASTER, OLD_WORKER, NEW_WORKER}
    assert second.changed == {h: 0 for h in second.recap}, second.changed_tasks()
