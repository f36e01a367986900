"""The lab's SSH key and the ssh command line that reaches a lab host as root with it.

Why a key per lab: the hosts trust only this key (root's authorized_keys), it lives beside
the lab state with mode 0600, and the inventory points Ansible at it. Host keys are new on
every `up`, so host key checking is off for lab addresses only (ssh options here and
`ansible_ssh_common_args` in the inventory), never globally.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from hops_deploy.lab import LabError
from hops_deploy.lab.prereqs import command

KEY_NAME = "id_ed25519"

COMMON_ARGS = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
"""What Ansible gets as `ansible_ssh_common_args`: lab host keys change on every `up`."""


def ensure_key(directory: Path, comment: str) -> Path:
    """The private key in `directory` (0700), created if missing, mode 0600."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    key = directory / KEY_NAME
    if not key.exists():
        subprocess.run(  # noqa: S603
            [command("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key)],
            check=True,
            capture_output=True,
        )
    key.chmod(0o600)
    return key


def public_key(key: Path) -> str:
    return key.with_name(key.name + ".pub").read_text().strip()


def ssh_argv(key: Path, address: str, remote: Sequence[str], connect_timeout: int = 5) -> list[str]:
    """`ssh root@address -- remote...` with the lab key; `remote` is quoted for the remote
    shell, so arguments with spaces arrive as given."""
    return [
        command("ssh"),
        "-i",
        str(key),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        f"ConnectTimeout={connect_timeout}",
        *COMMON_ARGS.split(),
        f"root@{address}",
        "--",
        shlex.join(remote),
    ]


def run(
    key: Path, address: str, remote: Sequence[str], timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """Run a command on a lab host as root; output captured, never raises on exit code."""
    return subprocess.run(  # noqa: S603
        ssh_argv(key, address, remote), capture_output=True, text=True, timeout=timeout, check=False
    )


def wait_ready(key: Path, address: str, timeout: float) -> None:
    """Poll until the host accepts the lab key (sshd up and the key in place)."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            result = run(key, address, ["true"], timeout=10)
        except subprocess.TimeoutExpired:
            last = "ssh timed out"
            continue
        if result.returncode == 0:
            return
        last = result.stderr.strip()
        time.sleep(0.2)
    raise LabError(f"host {address} not reachable over ssh after {timeout:.0f} s: {last}")
