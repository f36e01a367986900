"""The deploy code finds the checkout's roles from a normal (not editable) install too.

`pip install '.[deploy]'` puts `hops_deploy` in site-packages, far from `roles/`: the
package is copied to a directory of its own here and imported from there alone (`-S`: no
.pth files, so the editable install of this checkout cannot answer instead)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROBE = (
    "from hops_deploy.variables import role_defaults; "
    "print(sorted(role_defaults('preflight')['preflight_required_groups']))"
)


def installed_elsewhere(tmp_path: Path) -> Path:
    site = tmp_path / "site-packages"
    for package in ("hops_deploy", "hops_platform"):
        shutil.copytree(REPO / "components" / package, site / package)
    return site


def probe(site: Path, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    path = f"{site}:{sysconfig.get_paths()['purelib']}"
    return subprocess.run(
        [sys.executable, "-S", "-c", PROBE],
        cwd=cwd,
        env={"PYTHONPATH": path, "PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_roles_are_found_from_the_checkout_the_tool_runs_in(tmp_path: Path):
    site = installed_elsewhere(tmp_path)
    for cwd in (REPO, REPO / "stacks" / "baremetal"):
        found = probe(site, cwd)
        assert found.returncode == 0, found.stderr
        assert "metadata_db" in found.stdout


def test_hops_checkout_names_it_and_outside_one_the_error_says_what_to_do(tmp_path: Path):
    site = installed_elsewhere(tmp_path)
    named = probe(site, tmp_path, HOPS_CHECKOUT=str(REPO))
    assert named.returncode == 0, named.stderr
    lost = probe(site, tmp_path)
    assert lost.returncode == 1
    assert "run this from the repository's root, or set HOPS_CHECKOUT" in lost.stderr
