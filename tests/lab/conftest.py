"""The `lab` marker: tests that boot systemd-nspawn hosts (root, ~5 s warm, ~2 min on a
machine with no cached root filesystem). Deselect with ``-m "not lab"``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from hops_deploy import ship
from hops_deploy.lab import LabError
from hops_deploy.lab import state as lab_state
from hops_deploy.lab.locks import exclusive
from hops_deploy.lab.prereqs import container_support, ensure_packages


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "lab: boots systemd-nspawn test hosts (needs root; builds a rootfs once)"
    )


@pytest.fixture(scope="session")
def lab_machine() -> Path:
    """The cache dir, once this machine is known to run nspawn hosts (skip otherwise)."""
    if os.geteuid() != 0:
        pytest.skip("the lab needs root (bridges, overlay mounts, systemd-nspawn)")
    try:
        ensure_packages(print)
    except LabError as error:
        pytest.skip(f"cannot install the lab's packages: {error}")
    reason = container_support()
    if reason:
        pytest.skip(f"systemd-nspawn cannot run here: {reason}")
    # testinfra's ansible backend calls ansible-inventory, which lives beside this Python
    os.environ["PATH"] = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"
    return Path(os.environ.get("HOPS_LAB_CACHE_DIR", str(lab_state.DEFAULT_CACHE_DIR)))


@pytest.fixture(scope="session")
def wheelhouse(lab_machine: Path) -> Path:
    """The wheels the lab hosts install from, as an air-gapped site builds them
    (`python -m hops_deploy.ship wheelhouse`): the hosts have no route out. The service's
    own wheel is then taken out again: the playbooks must ship it themselves
    (roles/hops/tasks/ship.yml and its pyinfra twin).

    Built only when what it holds changed (`ship.wheelhouse_key`, written beside it), under
    a lock, so two lab runs at once (a developer's, CI's) never build it over each other."""
    repo = Path(__file__).resolve().parents[2]
    dest = lab_machine / "wheelhouse"
    recipe = ship.wheelhouse_key(repo)
    built_for = dest / ".built-for"
    with exclusive(lab_machine / "wheelhouse.lock"):
        if not (built_for.is_file() and built_for.read_text() == recipe):
            built_for.unlink(missing_ok=True)
            ship.wheelhouse(repo, dest)
            for wheel in dest.glob(f"{ship.DIST_NAME}-*.whl"):
                wheel.unlink()
            built_for.write_text(recipe)
    return dest
