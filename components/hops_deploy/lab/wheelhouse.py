"""A wheelhouse: a directory of wheels, served over plain HTTP, from which hosts install
Python packages with no index.

This is the deployment option for air-gapped sites, and the lab uses it the same way: the
hosts have no route to PyPI, so the operator builds the wheels once on a machine that has
(`build_wheelhouse`, reusing the caller's pip cache, e.g. for the ~456 MB pyspark wheel
that takes ~50 s to build) and serves or copies the directory to the site. Hosts then run::

    pip install --no-index --find-links http://<server>:<port>/ --trusted-host <server> PKG

(`--trusted-host` because pip ignores plain-HTTP links otherwise.) Lab hosts get the same
in /etc/pip.conf (`pip_conf`), and the inventory carries `hops_pip_find_links`.

The wheels suit the hosts, not the machine that builds them: given the hosts' Python
(`HostPython`: Debian 12's 3.11.2 and glibc 2.36 by default, roles/hops/defaults), pip
resolves every dependency for that interpreter and platform. A deploying machine with a newer
Python would otherwise pick releases the hosts refuse (a `Requires-Python: >=3.11.5`).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hops_deploy.lab import LabError
from hops_deploy.lab.network import wait_port
from hops_deploy.lab.processes import ProcessRef, spawn, stop

DEFAULT_PORT = 3180

Report = Callable[[str], None]
# manylinux_2_5 is the oldest glibc a manylinux tag names; the legacy names alias these.
OLDEST_GLIBC_MINOR = 5
LEGACY_MANYLINUX = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}


@dataclass(frozen=True)
class HostPython:
    """The interpreter and platform the hosts run, for pip's cross-target options."""

    version: str  # e.g. "3.11.2"
    glibc: str  # e.g. "2.36"
    machine: str = "x86_64"

    def platforms(self) -> list[str]:
        """Every manylinux tag this glibc runs, newest first (pip takes each --platform)."""
        major, minor = (int(part) for part in self.glibc.split(".")[:2])
        tags = []
        for older in range(minor, OLDEST_GLIBC_MINOR - 1, -1):
            tags.append(f"manylinux_{major}_{older}_{self.machine}")
            if older in LEGACY_MANYLINUX:
                tags.append(f"{LEGACY_MANYLINUX[older]}_{self.machine}")
        return tags

    def pip_options(self) -> list[str]:
        platforms = [arg for tag in self.platforms() for arg in ("--platform", tag)]
        return [
            "--only-binary=:all:",
            "--python-version",
            self.version,
            "--implementation",
            "cp",
            *platforms,
        ]


def build_wheelhouse(
    requirements: Sequence[str],
    dest: Path,
    pip_cache: Path | None = None,
    python: str = sys.executable,
    *,
    target: HostPython | None = None,
    report: Report = print,
) -> list[Path]:
    """Put wheels for `requirements` (and their dependencies) into `dest`. `pip_cache` is
    the pip cache to use (default: the caller's usual one), so a second build is a copy.

    Without `target`, `pip wheel` resolves for `python`. With it, two steps: `pip wheel`
    builds everything in a staging directory (pyspark and pyhive are only published as
    sdists: pure Python, so their wheels suit any host), then `pip download` for the
    target's Python and platform puts the requirements and every dependency into `dest`,
    taking the built wheels from staging and binary ones for the hosts from the index."""
    dest.mkdir(parents=True, exist_ok=True)
    if not requirements:
        return sorted(dest.glob("*.whl"))
    with tempfile.TemporaryDirectory(prefix="wheelhouse-") as work:
        req_file = Path(work) / "requirements.txt"
        req_file.write_text("\n".join(requirements) + "\n")
        pip = [python, "-m", "pip"]
        cache = ["--cache-dir", str(pip_cache)] if pip_cache is not None else []
        steps = [[*pip, "wheel", *cache, "--wheel-dir", str(dest), "-r", str(req_file)]]
        if target is not None:
            staging = str(Path(work) / "built")
            steps = [
                [*pip, "wheel", *cache, "--wheel-dir", staging, "-r", str(req_file)],
                [*pip, "download", *cache, "--dest", str(dest), "--find-links", staging,
                 *target.pip_options(), "-r", str(req_file)],
            ]  # fmt: skip
        report(f"building wheelhouse {dest}: {' '.join(requirements)}")
        for argv in steps:
            result = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603
            if result.returncode != 0:
                tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-20:])
                raise LabError(f"pip {argv[3]} failed for {' '.join(requirements)}:\n{tail}")
    return sorted(dest.glob("*.whl"))


def find_links_url(address: str, port: int) -> str:
    return f"http://{address}:{port}/"


def pip_conf(address: str, port: int) -> str:
    """/etc/pip.conf for a host that installs only from the wheelhouse."""
    return (
        "# written by hops-lab up: Python packages come from the lab's wheelhouse\n"
        "[global]\n"
        "no-index = true\n"
        f"find-links = {find_links_url(address, port)}\n"
        f"trusted-host = {address}\n"
    )


def serve(directory: Path, address: str, port: int, log: Path) -> ProcessRef:
    """Serve `directory` on address:port with Python's http.server (a directory listing
    is all `--find-links` needs); bound to the bridge address only."""
    directory.mkdir(parents=True, exist_ok=True)
    ref = spawn(
        [
            sys.executable,
            "-m",
            "http.server",
            str(port),
            "--bind",
            address,
            "--directory",
            str(directory),
        ],
        log,
    )
    if not wait_port(address, port, timeout=10.0):
        stop(ref, 2.0)
        raise LabError(f"wheelhouse server did not listen on {address}:{port}; log {log}")
    return ref
