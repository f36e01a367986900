"""README's "On bare metal" sections as a newcomer follows them: a normal (not editable)
`pip install '.[deploy]'` into a new virtualenv, then the section's commands, line by line,
in a copy of the checkout.

Needs no lab hosts, but sits with the lab tests because it is a deployment run as users
run it (and runs in their lane, beside the main suite). The commands stop where real hosts
are needed: the full `ansible-playbook` run (test_site does that on lab hosts), and pyinfra,
which here can only show that it reads the vaulted inventory and then fails to reach the
example hosts.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import readme

ANSIBLE = "### On bare metal: `ansible-playbook`"
PYINFRA = "### On bare metal with Python: `pyinfra`"


@pytest.fixture(scope="module")
def newcomer(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A copy of the checkout, a home of its own, and a virtualenv with `.[deploy]`
    installed from the copy as a plain package."""
    base = tmp_path_factory.mktemp("readme")
    checkout = base / "checkout"
    readme.copy_of_checkout(checkout, "tests", "docs", "ui")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    installed = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            f"{checkout}[deploy]",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    home = base / "home"
    home.mkdir()
    env = {
        "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "ANSIBLE_NOCOLOR": "1",
        "NO_COLOR": "1",
    }
    return {"checkout": checkout, "venv": venv, "env": env}


def run(line: str, newcomer: dict, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/bash", "-ec", line],
        cwd=newcomer["checkout"],
        env=newcomer["env"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
        timeout=timeout,
    )


def test_the_deploy_extra_gives_every_tool_and_no_editable_path(newcomer: dict) -> None:
    for line in ("ansible-playbook --version", "pyinfra --version", "hops-lab --help"):
        result = run(line, newcomer)
        assert result.returncode == 0, f"{line}: {result.stdout}{result.stderr}"
    where = run("python -c 'import hops_deploy; print(hops_deploy.__file__)'", newcomer)
    assert str(newcomer["venv"]) in where.stdout  # site-packages, not this checkout


def test_the_sections_up_to_the_runs_that_need_hosts(newcomer: dict) -> None:
    """The Ansible section pasted into a shell (its `export` carries on), without its last
    line; then the pyinfra section in that shell's environment."""
    lines = readme.commands(ANSIBLE)
    assert lines[-1] == "ansible-playbook -i inventories/mysite site.yml"
    result = run("\n".join(lines[:-1]), newcomer)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    recap = result.stdout[result.stdout.index("PLAY RECAP") :]
    assert "failed=0" in recap and "failed=1" not in recap, result.stdout[-3000:]
    vault = newcomer["checkout"] / "inventories/mysite/group_vars/all/vault.yml"
    assert vault.read_text().startswith("$ANSIBLE_VAULT;")
    key = Path(newcomer["env"]["HOME"]) / ".hops-vault-pass"
    assert key.stat().st_mode & 0o777 == 0o600

    exports = [line for line in lines if line.startswith("export ")]
    (pyinfra,) = readme.commands(PYINFRA)
    result = run("\n".join([*exports, pyinfra]), newcomer, timeout=300)
    output = result.stdout + result.stderr
    # It read the vaulted inventory and got as far as connecting to the example's hosts
    # (paramiko's own tracebacks about them are expected; none from the deploy's code).
    assert "--> Connecting to hosts..." in output, output[-4000:]
    assert "/hops_deploy/" not in output and "/hops_pyinfra/" not in output, output[-4000:]
    assert "No hosts remaining" in output and result.returncode != 0, output[-4000:]
