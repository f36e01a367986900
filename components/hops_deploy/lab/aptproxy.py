"""apt-cacher-ng on the lab bridge: the hosts' only way to Debian packages.

Why: lab hosts have no route off the machine (like an air-gapped site's hosts, whose apt
points at a site mirror or proxy). A private apt-cacher-ng instance (own config dir, own
port, bound to the bridge address only, never the system service) forwards to the mirror
this machine's apt already uses (its `backends_debian`; the package's default mirror
answered 503 and hung here) and caches what it fetched for the next `up` of the same lab.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from hops_deploy.lab import LabError
from hops_deploy.lab.network import wait_port
from hops_deploy.lab.prereqs import command
from hops_deploy.lab.processes import ProcessRef, spawn, stop
from hops_deploy.lab.rootfs import AptSource

DEFAULT_PORT = 3142
SUPPORT_DIR = Path("/usr/lib/apt-cacher-ng")
_MAX_SOCKET_PATH = 107


def _host_path(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.netloc}{parts.path}".rstrip("/")


def machine_http_proxy() -> str | None:
    """The HTTP proxy this machine's apt uses, if any (apt-cacher-ng must use it too)."""
    try:
        out = subprocess.run(  # noqa: S603
            [command("apt-config"), "dump", "Acquire::http::Proxy"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
    except LabError:
        return None
    for line in out.splitlines():
        key, _, value = line.partition(" ")
        if key == "Acquire::http::Proxy":
            value = value.strip().rstrip(";").strip('"')
            if value and value.upper() != "DIRECT":
                return value
    return None


def config_files(
    sources: Sequence[AptSource],
    cache_dir: Path,
    log_dir: Path,
    socket_path: Path,
    http_proxy: str | None = None,
) -> dict[str, str]:
    """apt-cacher-ng's config dir (file name -> content): the Debian and security archives
    remapped to the machine's own mirrors, wherever a host's sources point."""
    main = [s for s in sources if not any(x.endswith("-security") for x in s.suites)]
    security = [s for s in sources if any(x.endswith("-security") for x in s.suites)]
    main_uris = list(dict.fromkeys(s.uri.rstrip("/") + "/" for s in main)) or [
        "http://deb.debian.org/debian/"
    ]
    security_uris = list(dict.fromkeys(s.uri.rstrip("/") + "/" for s in security)) or [
        "http://deb.debian.org/debian-security/"
    ]
    main_aliases = " ".join(dict.fromkeys(_host_path(u) for u in main_uris))
    security_aliases = " ".join(dict.fromkeys(_host_path(u) for u in security_uris))
    lines = [
        "# written by hops-lab up: a private instance for one lab",
        f"CacheDir: {cache_dir}",
        f"LogDir: {log_dir}",
        f"SupportDir: {SUPPORT_DIR}",
        f"SocketPath: {socket_path}",
        "ForeGround: 1",
        f"Remap-debrep: file:deb_mirror*.gz /debian {main_aliases} ; file:backends_debian",
        "Remap-secdeb: security.debian.org security.debian.org/debian-security "
        f"deb.debian.org/debian-security /debian-security {security_aliases} "
        "; file:backends_debian_security",
        "ReportPage: acng-report.html",
        "ExThreshold: 4",
        "FollowIndexFileRemoval: 1",
    ]
    if http_proxy:
        lines.append(f"Proxy: {http_proxy}")
    return {
        "acng.conf": "\n".join(lines) + "\n",
        "backends_debian": "\n".join(main_uris) + "\n",
        "backends_debian_security": "\n".join(security_uris) + "\n",
    }


def start(
    address: str,
    port: int,
    sources: Sequence[AptSource],
    run_dir: Path,
    cache_dir: Path,
    log: Path,
) -> ProcessRef:
    """Start the lab's apt-cacher-ng on address:port and wait until it accepts connections."""
    conf_dir = run_dir / "apt-cacher-ng"
    conf_dir.mkdir(parents=True, exist_ok=True)
    cache_dir.mkdir(parents=True, exist_ok=True)
    log_dir = run_dir / "logs" / "apt-cacher-ng"
    log_dir.mkdir(parents=True, exist_ok=True)
    socket_path = conf_dir / "acng.socket"
    if len(str(socket_path)) > _MAX_SOCKET_PATH:
        raise LabError(f"socket path too long for a Unix socket: {socket_path}")
    for name, content in config_files(
        sources, cache_dir, log_dir, socket_path, machine_http_proxy()
    ).items():
        (conf_dir / name).write_text(content)
    ref = spawn(
        [
            command("apt-cacher-ng"),
            "-c",
            str(conf_dir),
            f"BindAddress={address}",
            f"Port={port}",
        ],
        log,
    )
    if not wait_port(address, port, timeout=15.0):
        stop(ref, 2.0)
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise LabError(f"apt-cacher-ng did not listen on {address}:{port}; log {log}:\n{tail}")
    return ref


def proxy_url(address: str, port: int) -> str:
    return f"http://{address}:{port}/"
