"""The platform's own code, built on the deploying machine and handed to the hosts.

No index carries `hopsworks-iac`: every entry point (ansible-playbook, pyinfra, Vagrant, the
cloud stack, the lab) builds the control service's wheel from the checkout it runs from and
copies it to the hosts, which install that file (its dependencies come from PyPI or, on an
air-gapped site, from the wheelhouse that `wheelhouse` below fills).

The wheel's version is the checkout's version plus a local label made of a hash of the
sources (`0.1.0+3f2c...`, hops_platform.sources), and its bytes are reproducible
(SOURCE_DATE_EPOCH): the same sources give the same file, so a re-run copies nothing and pip
installs nothing, and any change gives a new version that pip installs. The build runs on a
copy of the sources, so setuptools' leftovers in the checkout (`build/lib`, `*.egg-info`)
never reach the wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hops_deploy.checkout import find_checkout
from hops_deploy.variables import role_defaults
from hops_platform.sources import VERSION_LINE, source_version, sources

if TYPE_CHECKING:
    from hops_deploy.lab.wheelhouse import HostPython

DIST_NAME = "hopsworks_iac"
# Every file in the wheel gets this time (1980-01-01, the zip format's first day).
SOURCE_DATE_EPOCH = "315532800"
UI_INDEX = Path("components/hopsworks_api/webui/dist/index.html")

Report = Callable[[str], None]


class ShipError(RuntimeError):
    pass


def default_dest(checkout: Path) -> Path:
    return checkout / "build" / "ship"


def wheel_name(version: str) -> str:
    return f"{DIST_NAME}-{version}-py3-none-any.whl"


def version_of(wheel: Path) -> str:
    return wheel.name.split("-")[1]


def service_wheel(
    checkout: Path,
    dest: Path | None = None,
    *,
    allow_without_ui: bool = False,
    python: str = sys.executable,
    report: Report = print,
) -> tuple[Path, bool]:
    """The control service's wheel for this checkout, in `dest` (built when absent), and
    whether it was built now. Older wheels of the service in `dest` are removed."""
    dest = dest or default_dest(checkout)
    if not (checkout / UI_INDEX).is_file() and not allow_without_ui:
        raise ShipError(
            f"the web UI is not built ({UI_INDEX} is missing): run scripts/build-ui.sh in "
            f"{checkout} first (it needs Node >= 18), or ship without the UI "
            "(hops_ship_without_ui=true / --allow-without-ui: its pages then answer 503)"
        )
    try:
        version = source_version(checkout)
    except ValueError as error:
        raise ShipError(str(error)) from None
    wheel = dest / wheel_name(version)
    if wheel.is_file():
        return wheel, False
    dest.mkdir(parents=True, exist_ok=True)
    report(f"building {wheel.name} from {checkout}")
    with tempfile.TemporaryDirectory(prefix="hops-ship-") as scratch:
        tree = Path(scratch) / "src"
        for relative in sources(checkout):
            target = tree / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(checkout / relative, target)
        pyproject = tree / "pyproject.toml"
        pyproject.write_text(
            VERSION_LINE.sub(f'version = "{version}"', pyproject.read_text(), count=1)
        )
        out = Path(scratch) / "out"
        argv = [python, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(out), str(tree)]
        env = {**os.environ, "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH}
        result = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)  # noqa: S603
        built = out / wheel.name
        if result.returncode != 0 or not built.is_file():
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-20:])
            raise ShipError(f"building the control service's wheel failed:\n{tail}")
        partial = dest / (wheel.name + ".part")
        shutil.copyfile(built, partial)
        partial.replace(wheel)
    for old in dest.glob(f"{DIST_NAME}-*.whl"):
        if old != wheel:
            old.unlink()
    return wheel, True


MODEL_SERVER_REQUIREMENTS = Path("components/hopsworks_api/servings/model_server_requirements.txt")


def pinned_requirements(checkout: Path) -> list[str]:
    """What the hosts install with pip besides the service's own dependencies: the Spark
    workers' and drivers' pyspark, at the version the roles pin, and the model servers'
    environment (`hops servings build-runtime` on the service hosts)."""
    pyspark = f"pyspark=={role_defaults('hops', checkout / 'roles')['hops_pyspark_version']}"
    lines = (checkout / MODEL_SERVER_REQUIREMENTS).read_text().splitlines()
    return [pyspark, *(line for line in lines if line.strip() and not line.startswith("#"))]


def with_extras(requirement: str, extras: list[str]) -> str:
    """A requirement's name or wheel path (the version pin goes after) with the extras the
    roles install (`hops_service_extras`)."""
    return f"{requirement}[{','.join(extras)}]" if extras else requirement


def host_python(checkout: Path) -> HostPython:
    """The hosts' Python, as the roles declare it."""
    from hops_deploy.lab.wheelhouse import HostPython

    defaults = role_defaults("hops", checkout / "roles")
    return HostPython(
        version=defaults["hops_host_python_version"],
        glibc=defaults["hops_host_glibc_version"],
        machine=defaults["hops_host_machine"],
    )


def wheelhouse(
    checkout: Path,
    dest: Path,
    *,
    pip_cache: Path | None = None,
    allow_without_ui: bool = False,
    report: Report = print,
) -> list[Path]:
    """Every wheel the hosts install, for a site without a route to PyPI: the service's
    wheel, its dependencies and the pinned pyspark (`hops_pip_find_links` serves it)."""
    from hops_deploy.lab.wheelhouse import build_wheelhouse

    wheel, _ = service_wheel(checkout, allow_without_ui=allow_without_ui, report=report)
    extras = role_defaults("hops", checkout / "roles")["hops_service_extras"]
    return build_wheelhouse(
        [with_extras(str(wheel), extras), *pinned_requirements(checkout)],
        dest,
        pip_cache,
        target=host_python(checkout),
        report=report,
    )


def wheelhouse_key(checkout: Path) -> str:
    """Everything `wheelhouse` builds from (keep beside it): the same key, the same wheels,
    so a cache of a wheelhouse (the lab tests') knows when it must be built again."""
    extras = role_defaults("hops", checkout / "roles")["hops_service_extras"]
    pins, python = pinned_requirements(checkout), host_python(checkout)
    return repr((source_version(checkout), extras, pins, python))


app = typer.Typer(add_completion=False, help=__doc__.split("\n\n")[0])


@app.command("wheel")
def wheel_command(
    checkout: Annotated[
        Path | None, typer.Option(help="The repository (default: found as the deploy finds it)")
    ] = None,
    dest: Annotated[Path | None, typer.Option(help="Wheel directory (CHECKOUT/build/ship)")] = None,
    allow_without_ui: bool = False,
) -> None:
    """Build the control service's wheel when its sources changed; print it as JSON
    (`path`, `name`, `version`, `built`) for Ansible."""
    root = (checkout or find_checkout()).resolve()
    try:
        wheel, built = service_wheel(
            root, dest, allow_without_ui=allow_without_ui, report=_to_stderr
        )
    except ShipError as error:
        _to_stderr(str(error))
        raise typer.Exit(1) from None
    summary = {"path": str(wheel), "name": wheel.name, "version": version_of(wheel)}
    print(json.dumps({**summary, "built": built}))


@app.command("wheelhouse")
def wheelhouse_command(
    dest: Annotated[Path, typer.Argument(help="Directory to fill with wheels")],
    checkout: Annotated[Path | None, typer.Option(help="The repository")] = None,
    pip_cache: Annotated[Path | None, typer.Option(help="pip cache to reuse")] = None,
    allow_without_ui: bool = False,
) -> None:
    """Every wheel the hosts install, for an air-gapped site (docs/deployment.md)."""
    root = (checkout or find_checkout()).resolve()
    try:
        wheels = wheelhouse(
            root, dest, pip_cache=pip_cache, allow_without_ui=allow_without_ui, report=_to_stderr
        )
    except (ShipError, RuntimeError) as error:
        _to_stderr(str(error))
        raise typer.Exit(1) from None
    _to_stderr(f"{len(wheels)} wheels in {dest}")


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


if __name__ == "__main__":
    app()
