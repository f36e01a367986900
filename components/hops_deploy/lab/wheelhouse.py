"""A wheelhouse: a directory of wheels, served over plain HTTP, from which hosts install
Python packages with no index.

This is the deployment option for air-gapped sites, and the lab uses it the same way: the
hosts have no route to PyPI, so the operator builds the wheels once on a machine that has
(`build_wheelhouse`, reusing the caller's pip cache, e.g. for the ~456 MB pyspark wheel
that takes ~50 s to build) and serves or copies the directory to the site. Hosts then run::

    pip install --no-index --find-links http://<server>:<port>/ --trusted-host <server> PKG

(`--trusted-host` because pip ignores plain-HTTP links otherwise.) Lab hosts get the same
in /etc/pip.conf (`pip_conf`), and the inventory carries `hops_pip_find_links`.

Requirement: the wheels must suit the hosts: build with the hosts' Python minor version
and a compatible glibc (lab hosts: Debian 12, Python 3.11, like this machine).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from hops_deploy.lab import LabError
from hops_deploy.lab.network import wait_port
from hops_deploy.lab.processes import ProcessRef, spawn, stop

DEFAULT_PORT = 3180

Report = Callable[[str], None]


def build_wheelhouse(
    requirements: Sequence[str],
    dest: Path,
    pip_cache: Path | None = None,
    python: str = sys.executable,
    report: Report = print,
) -> list[Path]:
    """Put wheels for `requirements` (and their dependencies) into `dest` with `pip wheel`:
    binary wheels are downloaded, sdists (such as pyspark) built once. `pip_cache` is the
    pip cache to use (default: the caller's usual one), so a second build is a copy."""
    dest.mkdir(parents=True, exist_ok=True)
    if not requirements:
        return sorted(dest.glob("*.whl"))
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write("\n".join(requirements) + "\n")
        req_file = Path(handle.name)
    argv = [python, "-m", "pip", "wheel", "--wheel-dir", str(dest), "-r", str(req_file)]
    if pip_cache is not None:
        argv[4:4] = ["--cache-dir", str(pip_cache)]
    report(f"building wheelhouse {dest}: {' '.join(requirements)}")
    try:
        result = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603
    finally:
        req_file.unlink(missing_ok=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-20:])
        raise LabError(f"pip wheel failed for {' '.join(requirements)}:\n{tail}")
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
