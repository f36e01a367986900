"""`hops-lab up|add|status|down|ssh|wheelhouse`: the lab from the command line.

Its own console script (pyproject.toml), not a command of the production `hops`: the lab
is a test bed for the deployment, and the service has no business mounting it. Also
runnable as ``python -m hops_deploy.lab.cli``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from hops_deploy import ship
from hops_deploy.checkout import CheckoutNotFound, find_checkout
from hops_deploy.lab import LabError, add, lifecycle, sshkeys, state
from hops_deploy.lab import wheelhouse as wheels

lab_app = typer.Typer(
    help="Test hosts: systemd-nspawn containers with real systemd, reached over SSH through "
    "inventories/lab/hosts.yml (needs root).",
    no_args_is_help=True,
)

Name = Annotated[str, typer.Option("--name", help="Lab name; hosts are <name>1..N")]
CacheDir = Annotated[
    Path,
    typer.Option(
        "--cache-dir",
        envvar="HOPS_LAB_CACHE_DIR",
        help="Root filesystem cache, apt cache, lab state",
    ),
]


class RichReporter:
    """Shows `up`'s steps as one Rich progress bar, notes printed above it."""

    def __init__(self, progress: Progress, console: Console, total: int) -> None:
        self.progress = progress
        self.console = console
        self.task = progress.add_task("starting", total=total)
        self.started = False

    def step(self, name: str) -> None:
        if self.started:
            self.progress.advance(self.task)
        self.started = True
        self.progress.update(self.task, description=name)

    def note(self, message: str) -> None:
        self.progress.console.print(f"  [dim]{message}[/dim]")

    def finish(self) -> None:
        self.progress.update(self.task, completed=self.progress.tasks[0].total, description="up")


class ConsoleReporter:
    """Prints `down`'s steps on the console (dim, they are only progress)."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def step(self, name: str) -> None:
        self.console.print(f"[dim]{name}[/dim]")

    def note(self, message: str) -> None:
        self.console.print(f"  {message}")


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM/SIGHUP during `up` act like Ctrl-C, so `up` removes what it started instead
    of dying half-way; a second signal is ignored so that cleanup is not cut short."""

    def interrupt(signum: int, _frame: FrameType | None) -> None:
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


FAILURES = (LabError, subprocess.CalledProcessError, OSError)
"""What `up`/`down` report as an error line rather than a traceback."""


def _fail(console: Console, error: Exception) -> typer.Exit:
    if isinstance(error, subprocess.CalledProcessError):
        detail = (
            (error.stderr or b"").decode(errors="replace")
            if isinstance(error.stderr, bytes)
            else (error.stderr or "")
        )
        error = LabError(f"{' '.join(map(str, error.cmd))} failed: {detail.strip() or error}")
    console.print(f"[red]error:[/red] {error}")
    return typer.Exit(1)


@lab_app.command()
def up(
    hosts: Annotated[int, typer.Option("--hosts", "-n", help="Number of hosts (1 or 3 usual)")] = 1,
    name: Name = "lab",
    cache_dir: CacheDir = state.DEFAULT_CACHE_DIR,
    inventory: Annotated[
        Path | None,
        typer.Option(help="Directory for hosts.yml (default: this repo's inventories/lab)"),
    ] = None,
    wheelhouse: Annotated[
        Path | None,
        typer.Option(help="Wheel directory served to the hosts (default: CACHE/wheelhouse)"),
    ] = None,
    boot_timeout: Annotated[float, typer.Option(help="Seconds to wait for ssh")] = 120.0,
    shared: Annotated[
        bool,
        typer.Option(
            "--shared",
            help="Bind one directory into every host at /srv/hops/shared (a shared file "
            "system, as inventories/lab expects for Spark jobs)",
        ),
    ] = False,
) -> None:
    """Create N hosts, the bridge, the apt proxy and the wheelhouse server; write hosts.yml."""
    console = Console(stderr=True)
    config = lifecycle.LabConfig(
        name=name,
        hosts=hosts,
        cache_dir=cache_dir,
        inventory_dir=inventory,
        wheelhouse_dir=wheelhouse,
        boot_timeout=boot_timeout,
        shared_dir=shared,
    )
    started = time.monotonic()
    columns = (SpinnerColumn(), TextColumn("{task.description:<16}"), BarColumn())
    try:
        if os.geteuid() == 0:  # else `up` refuses at once, before any build
            _fill_wheelhouse(wheelhouse or cache_dir / "wheelhouse", console)
        with (
            _terminate_as_interrupt(),
            Progress(*columns, TimeElapsedColumn(), console=console) as progress,
        ):
            reporter = RichReporter(progress, console, len(lifecycle.STEPS))
            lab = lifecycle.up(config, reporter)
            reporter.finish()
    except FAILURES as error:
        raise _fail(console, error) from None
    table = Table("host", "address", title=f"lab {lab.name} ({lab.subnet})")
    for host in lab.hosts:
        table.add_row(host.name, host.address)
    Console().print(table)
    console.print(f"inventory: {lab.inventory}")
    console.print(f"ssh:       hops-lab ssh {lab.hosts[0].name} --name {lab.name}")
    console.print(f"up in {time.monotonic() - started:.1f} s")


@lab_app.command("add")
def add_host(
    name: Name = "lab",
    group: Annotated[
        list[str] | None,
        typer.Option(
            "--group",
            "-g",
            help="Platform group the host joins, at its end (repeatable; default: none, "
            "the host is only listed in hosts.yml)",
        ),
    ] = None,
    cache_dir: CacheDir = state.DEFAULT_CACHE_DIR,
    boot_timeout: Annotated[float, typer.Option(help="Seconds to wait for ssh")] = 120.0,
) -> None:
    """Boot one more host in a running lab (the next name and address) and list it in
    hosts.yml; the running hosts are not touched. `down` removes it with the others."""
    console = Console(stderr=True)
    started = time.monotonic()
    try:
        with _terminate_as_interrupt():
            host = add.add(name, group or [], cache_dir, boot_timeout, ConsoleReporter(console))
    except FAILURES as error:
        raise _fail(console, error) from None
    groups = ", ".join(group or []) or "no group"
    console.print(f"{host.name} {host.address} ({groups}) in {time.monotonic() - started:.1f} s")


def _fill_wheelhouse(dest: Path, console: Console) -> None:
    """The hosts have no route out: an empty wheelhouse is filled once with what they
    install (the service's dependencies and pyspark), as an air-gapped site fills its own."""
    if any(dest.glob("*.whl")):
        return
    console.print(f"the wheelhouse {dest} is empty: building it once (pyspark is ~450 MB)")
    try:
        ship.wheelhouse(find_checkout(), dest, report=console.print)
    except (ship.ShipError, CheckoutNotFound) as error:
        raise LabError(str(error)) from None


@lab_app.command()
def status(
    name: Name = "lab",
    cache_dir: CacheDir = state.DEFAULT_CACHE_DIR,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Show the lab's hosts (running, ssh port open) and services; exit 1 if not up."""
    console = Console()
    found = lifecycle.status(name, cache_dir)
    if found is None:
        others = state.lab_names(cache_dir)
        hint = f" (labs: {', '.join(others)})" if others else ""
        Console(stderr=True).print(f"no lab named {name!r} is up{hint}")
        raise typer.Exit(1)
    if as_json:
        console.print_json(json.dumps(asdict(found)))
        return
    table = Table("host", "address", "running", "ssh", title=f"lab {found.name} ({found.subnet})")
    for host in found.hosts:
        table.add_row(host.name, host.address, _mark(host.running), _mark(host.ssh))
    console.print(table)
    for service, (url, alive) in found.services.items():
        console.print(f"{service:<11} {url}  {_mark(alive)}")
    console.print(f"bridge      {found.bridge}  {_mark(found.bridge_present)}")
    console.print(f"inventory   {found.inventory}")
    healthy = found.ready and all(h.running and h.ssh for h in found.hosts)
    if not healthy:
        raise typer.Exit(1)


def _mark(ok: bool) -> str:
    return "[green]yes[/green]" if ok else "[red]no[/red]"


@lab_app.command()
def down(
    name: Name = "lab",
    cache_dir: CacheDir = state.DEFAULT_CACHE_DIR,
    timeout: Annotated[
        float, typer.Option(help="Seconds for a clean poweroff, then SIGKILL")
    ] = 30.0,
) -> None:
    """Power the hosts off, unmount, stop the services, delete the bridge and inventory."""
    console = Console(stderr=True)
    started = time.monotonic()
    try:
        result = lifecycle.down(name, cache_dir, timeout, ConsoleReporter(console))
    except FAILURES as error:
        raise _fail(console, error) from None
    for action in result.actions:
        console.print(f"  {action}")
    console.print(f"down in {time.monotonic() - started:.1f} s")


@lab_app.command()
def ssh(
    host: Annotated[str, typer.Argument(help="Host name, e.g. lab1")],
    command: Annotated[list[str] | None, typer.Argument(help="Command to run")] = None,
    name: Name = "lab",
    cache_dir: CacheDir = state.DEFAULT_CACHE_DIR,
) -> None:
    """Open a shell (or run a command) on a lab host as root with the lab key."""
    lab = state.load(cache_dir.resolve(), name)
    if lab is None or lab.ssh_key is None:
        Console(stderr=True).print(f"no lab named {name!r} is up")
        raise typer.Exit(1)
    try:
        address = lab.host(host).address
    except KeyError:
        Console(stderr=True).print(f"no host {host!r} in lab {name!r}")
        raise typer.Exit(1) from None
    argv = sshkeys.ssh_argv(Path(lab.ssh_key), address, command or [])
    if not command:
        argv = argv[:-2]  # interactive login shell: no "--" and no command
    os.execv(argv[0], argv)  # noqa: S606 - replace this process with ssh, argv as a list


@lab_app.command("wheelhouse")
def build_wheelhouse(
    requirements: Annotated[list[str], typer.Argument(help="Requirement specifiers")],
    dest: Annotated[
        Path | None,
        typer.Option(help="Wheel directory (default: CACHE/wheelhouse, served by up)"),
    ] = None,
    pip_cache: Annotated[
        Path | None, typer.Option(help="pip cache to reuse (default: pip's own)")
    ] = None,
    cache_dir: CacheDir = state.DEFAULT_CACHE_DIR,
) -> None:
    """Build wheels for the hosts (air-gapped sites: copy or serve this directory)."""
    console = Console(stderr=True)
    dest = dest or cache_dir / "wheelhouse"
    try:
        built = wheels.build_wheelhouse(requirements, dest, pip_cache, report=console.print)
    except FAILURES as error:
        raise _fail(console, error) from None
    console.print(f"{len(built)} wheels in {dest}")


if __name__ == "__main__":
    lab_app()
