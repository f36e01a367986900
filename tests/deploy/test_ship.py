"""The control service's wheel, built from a checkout as every deploy entry point builds it
(`hops_deploy.ship`): what the hosts install when no index carries the package."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from hops_deploy import ship
from hops_platform import sources

REPO = Path(__file__).resolve().parents[2]


def copy_of_checkout(dest: Path) -> Path:
    """The files the wheel is made of, in a new tree (new mtimes, no build leftovers)."""
    dest.mkdir()
    for name in sources.TOP_LEVEL:
        shutil.copyfile(REPO / name, dest / name)
    shutil.copytree(
        REPO / "components",
        dest / "components",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "node_modules"),
    )
    index = dest / ship.UI_INDEX
    if not index.is_file():  # a checkout whose UI was never built: stand in for the build
        index.parent.mkdir(parents=True, exist_ok=True)
        index.write_text("<!doctype html><title>Hopsworks</title>")
    return dest


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_of_checkout(tmp_path_factory.mktemp("ship") / "checkout")


@pytest.fixture(scope="module")
def built(checkout: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    # A stale module in setuptools' build dir of the checkout must not reach the wheel.
    stale = checkout / "build" / "lib" / "hopsworks_api" / "removed_long_ago.py"
    stale.parent.mkdir(parents=True)
    stale.write_text("raise SystemExit('stale')\n")
    wheel, was_built = ship.service_wheel(checkout, tmp_path_factory.mktemp("wheels"))
    assert was_built
    return wheel


def test_the_wheel_carries_a_version_of_its_sources_and_the_ui(built: Path, checkout: Path):
    version = ship.version_of(built)
    assert version == sources.source_version(checkout)
    base, label = version.split("+")
    assert base == sources.base_version(REPO) and len(label) == 16
    with zipfile.ZipFile(built) as wheel:
        names = set(wheel.namelist())
        metadata = wheel.read(f"{ship.DIST_NAME}-{version}.dist-info/METADATA").decode()
    assert "hopsworks_api/main.py" in names and "hops_deploy/ship.py" in names
    assert "hopsworks_api/webui/dist/index.html" in names
    assert "hopsworks_api/removed_long_ago.py" not in names
    assert f"Version: {version}" in metadata


def test_a_second_call_reuses_the_wheel_and_another_copy_builds_the_same_bytes(
    built: Path, tmp_path: Path
) -> None:
    again, was_built = ship.service_wheel(copy_of_checkout(tmp_path / "a"), built.parent)
    assert (again, was_built) == (built, False)
    elsewhere, was_built = ship.service_wheel(copy_of_checkout(tmp_path / "b"), tmp_path / "out")
    assert was_built and elsewhere.name == built.name
    assert elsewhere.read_bytes() == built.read_bytes()  # a re-run copies nothing


def test_a_changed_source_is_a_new_version_and_the_old_wheel_goes(
    built: Path, tmp_path: Path
) -> None:
    changed = copy_of_checkout(tmp_path / "changed")
    dest = tmp_path / "wheels"
    old, _ = ship.service_wheel(changed, dest)
    with (changed / "components" / "hopsworks_api" / "__init__.py").open("a") as handle:
        handle.write("# changed\n")
    new, was_built = ship.service_wheel(changed, dest)
    assert was_built and ship.version_of(new) != ship.version_of(old)
    assert sorted(dest.glob("*.whl")) == [new]


def test_no_ui_build_stops_the_ship_unless_allowed(tmp_path: Path) -> None:
    bare = copy_of_checkout(tmp_path / "bare")
    shutil.rmtree((bare / ship.UI_INDEX).parent)
    with pytest.raises(ship.ShipError, match=r"scripts/build-ui\.sh"):
        ship.service_wheel(bare, tmp_path / "wheels")
    assert not (tmp_path / "wheels").exists()


def test_the_command_prints_what_ansible_reads(built: Path, checkout: Path) -> None:
    argv = [sys.executable, "-m", "hops_deploy.ship", "wheel", "--checkout", str(checkout)]
    argv += ["--dest", str(built.parent)]
    result = subprocess.run(argv, capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == {
        "path": str(built),
        "name": built.name,
        "version": ship.version_of(built),
        "built": False,
    }


def fake_wheel(directory: Path, name: str, version: str, requires_python: str) -> Path:
    """A pure-Python wheel that says which Python it needs, for an index of our own."""
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(
            f"{info}/METADATA",
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
            f"Requires-Python: {requires_python}\n",
        )
        archive.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        archive.writestr(f"{info}/RECORD", "")
    return wheel


def test_the_wheelhouse_is_resolved_for_the_hosts_python_not_the_builders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A release that needs a newer Python than the hosts' (soupsieve once needed 3.11.5,
    Debian 12 has 3.11.2) stays out even when the building Python could take it."""
    from hops_deploy.lab.wheelhouse import HostPython, build_wheelhouse

    index = tmp_path / "index"
    index.mkdir()
    fake_wheel(index, "hostpick", "1.0", ">=3.8")
    fake_wheel(index, "hostpick", "2.0", f">={sys.version_info.major}.{sys.version_info.minor}")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(index))
    monkeypatch.delenv("PIP_CONSTRAINT", raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")

    for_builder = build_wheelhouse(["hostpick"], tmp_path / "builder", report=lambda _: None)
    older = HostPython(version="3.8.10", glibc="2.31")
    for_hosts = build_wheelhouse(
        ["hostpick"], tmp_path / "hosts", target=older, report=lambda _: None
    )
    assert [w.name for w in for_builder] == ["hostpick-2.0-py3-none-any.whl"]
    assert [w.name for w in for_hosts] == ["hostpick-1.0-py3-none-any.whl"]


def test_the_hosts_platform_tags_run_on_their_glibc() -> None:
    from hops_deploy.lab.wheelhouse import HostPython

    tags = HostPython(version="3.11.2", glibc="2.36").platforms()
    assert tags[0] == "manylinux_2_36_x86_64" and tags[-1] == "manylinux1_x86_64"
    assert "manylinux2014_x86_64" in tags and "manylinux_2_38_x86_64" not in tags
    assert ship.host_python(REPO).version == "3.11.2"
    assert ship.with_extras("w.whl", ["notebooks"]) == "w.whl[notebooks]"
    assert ship.with_extras("hopsworks-iac", []) == "hopsworks-iac"
