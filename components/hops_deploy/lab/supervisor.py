"""Keep one lab host running: start systemd-nspawn, start it again when the guest reboots.

Why: systemd-nspawn exits with code 133 when the guest asks for a reboot, and Ansible's
`reboot` module (kernel parameters, package upgrades) expects the host to come back. Any
other exit ends the supervisor with nspawn's code. SIGTERM/SIGINT are forwarded to nspawn,
which powers the guest off cleanly, and stop the loop.

Run as ``python -m hops_deploy.lab.supervisor PIDFILE HOST -- systemd-nspawn ...``; PIDFILE
gets the current nspawn pid (for `down`'s SIGKILL fallback); the supervisor first moves into
HOST's own cgroup (cgroups.py), which nspawn and the guest inherit.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from hops_deploy.lab import cgroups

REBOOT_EXIT_CODE = 133
MAX_REBOOTS_PER_MINUTE = 10


def supervise(argv: Sequence[str], pidfile: Path | None = None) -> int:
    """Run `argv` until it exits with a code other than 133 or we are told to stop."""
    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    reboots: list[float] = []
    while True:
        child = subprocess.Popen(list(argv))  # noqa: S603 - argv from the lab, no shell
        if pidfile is not None:
            pidfile.write_text(f"{child.pid}\n")
        if stopping:  # a signal arrived before `child` was set
            child.send_signal(signal.SIGTERM)
        code = child.wait()
        if code != REBOOT_EXIT_CODE or stopping:
            return code
        now = time.monotonic()
        reboots = [t for t in reboots if now - t < 60] + [now]
        if len(reboots) > MAX_REBOOTS_PER_MINUTE:
            print(f"guest rebooted {len(reboots)} times in a minute; giving up", flush=True)
            return code
        print("guest rebooted (exit 133): starting it again", flush=True)


def main(args: Sequence[str]) -> int:
    if "--" not in args or args.index("--") != 2:
        print(
            "usage: python -m hops_deploy.lab.supervisor PIDFILE HOST -- COMMAND...",
            file=sys.stderr,
        )
        return 2
    cgroups.enter(args[1])
    return supervise(args[3:], Path(args[0]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
