"""Time a full deploy of site.yml on lab hosts and a no-op re-run, for 1 and 3 hosts.

Each size gets a fresh lab (`hops lab up`), then:
- full deploy: `ansible-playbook site.yml --skip-tags needs_downloads` on new hosts (what
  can be installed on this machine: MariaDB, ZooKeeper, the CA, Spark, Hive, the service);
- no-op re-run: the same command again (must report changed=0 everywhere);
- check mode of the roles that need downloads (HDFS, YARN, Kafka, NVIDIA, Kubernetes).
The re-run/full ratio is the baseline figure: how much of a deploy is pure checking.

    sudo .venv/bin/python bench/deploy.py [--hosts 1,3]

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", default="1,3")
    args = parser.parse_args()
    cache = lab_state.DEFAULT_CACHE_DIR
    with console.status("wheelhouse: the project and pyspark"):
        build_wheelhouse([str(REPO), f"pyspark=={version('pyspark')}"], cache / "wheelhouse")
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
