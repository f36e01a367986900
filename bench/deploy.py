"""Time a full deploy of site.yml on lab hosts and a no-op re-run, for 1 and 3 hosts.

Each size gets a fresh lab (`hops-lab up`), then:
- full deploy: `ansible-playbook site.yml --skip-tags needs_downloads` on new hosts (what
  can be installed on this machine: MariaDB, ZooKeeper, the CA, Spark, Hive, the service);
- no-op re-run: the same command again (must report changed=0 everywhere);
- check mode of the roles that need downloads (HDFS, YARN, Kafka, NVIDIA, Kubernetes).
The re-run/full ratio is the baseline figure: how much of a deploy is pure checking.

With `--tools`, a fresh 2-host lab gets the same one-host platform twice
(hops_deploy.twins): ansible-playbook on one host, then the pyinfra deploy on the other,
then a no-op re-run of each; the baseline is Ansible, the figure pyinfra / Ansible.

    sudo .venv/bin/python bench/deploy.py [--hosts 1,3] [--tools]

Needs root (systemd-nspawn). Apt packages come through the lab's proxy, whose cache is
kept between runs, so a second bench run measures installation, not downloads.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from importlib.metadata import version
from pathlib import Path

from rich.console import Console
from rich.table import Table

from hops_deploy.lab import lifecycle
from hops_deploy.lab import state as lab_state
from hops_deploy.lab.wheelhouse import build_wheelhouse
from hops_deploy.playbook import run_site
from hops_deploy.pyinfra_run import run_pyinfra
from hops_deploy.twins import write_twin

REPO = Path(__file__).resolve().parents[1]
NAME = "bench"
console = Console()


def measure(hosts: int, cache: Path, workdir: Path) -> tuple:
    lifecycle.down(NAME, cache)
    inventory_dir = workdir / f"inventory-{hosts}"
    shutil.copytree(REPO / "inventories" / "lab" / "group_vars", inventory_dir / "group_vars")
    with console.status(f"{hosts} host(s): lab up"):
        lab = lifecycle.up(
            lifecycle.LabConfig(
                name=NAME, hosts=hosts, cache_dir=cache, inventory_dir=inventory_dir
            )
        )
    try:
        inventory = Path(lab.inventory or "")
        with console.status(f"{hosts} host(s): full deploy"):
            full = run_site(inventory, ["--skip-tags", "needs_downloads"])
        if full.returncode != 0:
            raise SystemExit(f"deploy failed:\n{full.output[-4000:]}")
        with console.status(f"{hosts} host(s): no-op re-run"):
            again = run_site(inventory, ["--skip-tags", "needs_downloads"])
        with console.status(f"{hosts} host(s): check mode of the download roles"):
            check = run_site(inventory, ["--check", "--tags", "needs_downloads"])
        changed = sum(again.changed.values())
        return hosts, full.seconds, again.seconds, check.seconds, changed
    finally:
        lifecycle.down(NAME, cache)


def compare_tools(cache: Path, workdir: Path) -> None:
    """Ansible and pyinfra on twin hosts, one after the other (never at once: they would
    share the 2 cores)."""
    lifecycle.down(NAME, cache)
    with console.status("2 hosts: lab up"):
        lab = lifecycle.up(
            lifecycle.LabConfig(name=NAME, hosts=2, cache_dir=cache, inventory_dir=workdir / "lab")
        )
    try:
        group_vars = REPO / "inventories" / "lab" / "group_vars"
        lab_inventory = Path(lab.inventory or "")
        ansible_inv = write_twin(lab_inventory, f"{NAME}1", workdir / "ansible", group_vars)
        pyinfra_inv = write_twin(lab_inventory, f"{NAME}2", workdir / "pyinfra", group_vars)
        skip = ["--skip-tags", "needs_downloads"]
        data = {"hops_skip_downloads": "true"}
        rows = []
        with console.status("ansible-playbook: full deploy"):
            full = run_site(ansible_inv, skip)
        with console.status("ansible-playbook: no-op re-run"):
            again = run_site(ansible_inv, skip)
        if full.returncode or again.returncode:
            raise SystemExit(f"ansible failed:\n{(full.output + again.output)[-4000:]}")
        rows.append(("ansible-playbook", full.seconds, again.seconds, sum(again.changed.values())))
        with console.status("pyinfra: full deploy"):
            pfull = run_pyinfra(pyinfra_inv, data)
        with console.status("pyinfra: no-op re-run"):
            pagain = run_pyinfra(pyinfra_inv, data)
        if pfull.returncode or pagain.returncode:
            raise SystemExit(f"pyinfra failed:\n{(pfull.output + pagain.output)[-4000:]}")
        rows.append(("pyinfra", pfull.seconds, pagain.seconds, pagain.changed))
    finally:
        lifecycle.down(NAME, cache)
    table = Table(title="One-host platform on a lab host: Ansible (baseline) and pyinfra")
    for column in ("tool", "full deploy s", "no-op re-run s", "re-run / full", "changed in re-run"):
        table.add_column(column, justify="right")
    for tool, full_s, again_s, changed in rows:
        table.add_row(
            tool, f"{full_s:.0f}", f"{again_s:.0f}", f"{again_s / full_s:.2f}", str(changed)
        )
    console.print(table)
    (_, a_full, a_again, _), (_, p_full, p_again, _) = rows
    console.print(
        f"pyinfra / ansible: full deploy {p_full / a_full:.2f}, "
        f"no-op re-run {p_again / a_again:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", default="1,3")
    parser.add_argument("--tools", action="store_true", help="compare Ansible and pyinfra")
    args = parser.parse_args()
    cache = lab_state.DEFAULT_CACHE_DIR
    with console.status("wheelhouse: the project and pyspark"):
        build_wheelhouse([str(REPO), f"pyspark=={version('pyspark')}"], cache / "wheelhouse")
    if args.tools:
        with tempfile.TemporaryDirectory(prefix="hops-bench-tools-") as workdir:
            compare_tools(cache, Path(workdir))
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="hops-bench-deploy-") as workdir:
        for hosts in (int(h) for h in args.hosts.split(",")):
            rows.append(measure(hosts, cache, Path(workdir)))
    table = Table(title="site.yml on lab hosts (systemd-nspawn, 2 shared cores)")
    for column in (
        "hosts",
        "full deploy s",
        "no-op re-run s",
        "re-run / full",
        "check mode s",
        "changed in re-run",
    ):
        table.add_column(column, justify="right")
    for hosts, full, again, check, changed in rows:
        table.add_row(
            str(hosts),
            f"{full:.0f}",
            f"{again:.0f}",
            f"{again / full:.2f}",
            f"{check:.0f}",
            str(changed),
        )
    console.print(table)


if __name__ == "__main__":
    main()
