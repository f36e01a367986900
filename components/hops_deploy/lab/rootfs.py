"""The hosts' root filesystem: Debian minbase with systemd and sshd, built once with
debootstrap, kept as a tarball and as an extracted read-only lower layer for the overlays.

Why cache: debootstrap takes about a minute and 270 MB; every later `up` reuses the extracted
tree (or, on a machine that got the tarball from a CI cache, extracts it in seconds). The
cache key covers everything that shapes the tree (suite, mirror, packages, apt sources and
`FORMAT`), so a changed recipe builds a new tree instead of reusing a stale one.

Nothing host-specific is in the tree: machine-id, hostname, SSH host keys, network and keys
are written per host into its overlay (hosts.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hops_deploy.lab import LabError
from hops_deploy.lab.locks import exclusive
from hops_deploy.lab.prereqs import command

FORMAT = 2
"""Bump when `customise` changes, so cached trees built by the old recipe are not reused."""

SUITE = "bookworm"
INCLUDE = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "python3",
    "python3-apt",  # Ansible's apt module needs it; saves every host fetching it first
    "iproute2",
    "iputils-ping",
    "sudo",
    "ca-certificates",
)
DEFAULT_MIRROR = "http://deb.debian.org/debian"

Report = Callable[[str], None]


@dataclass(frozen=True)
class AptSource:
    """One Debian apt source of the machine (deb822 stanza or one-line entry)."""

    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...] = ("main",)


def _deb822_stanzas(text: str) -> Iterator[dict[str, str]]:
    stanza: dict[str, str] = {}
    key = ""
    for line in [*text.splitlines(), ""]:
        if line.startswith("#"):
            continue
        if not line.strip():
            if stanza:
                yield stanza
            stanza, key = {}, ""
        elif line[0].isspace() and key:
            stanza[key] += " " + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            stanza[key] = value.strip()


def parse_sources(apt_dir: Path = Path("/etc/apt")) -> list[AptSource]:
    """The machine's enabled binary (`deb`) sources, from sources.list and sources.list.d/."""
    found: list[AptSource] = []
    one_line = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*.list"))]
    for path in one_line:
        if not path.is_file():
            continue
        for raw in path.read_text().splitlines():
            words = raw.split("#", 1)[0].split()
            if words and words[0] == "deb":
                words = [w for w in words[1:] if not w.startswith("[")]  # drop [options]
                if len(words) >= 2:
                    found.append(AptSource(words[0], (words[1],), tuple(words[2:]) or ("main",)))
    for path in sorted((apt_dir / "sources.list.d").glob("*.sources")):
        for stanza in _deb822_stanzas(path.read_text()):
            if "deb" not in stanza.get("types", "").split():
                continue
            if stanza.get("enabled", "yes").lower() == "no":
                continue
            for uri in stanza.get("uris", "").split():
                found.append(
                    AptSource(
                        uri,
                        tuple(stanza.get("suites", "").split()),
                        tuple(stanza.get("components", "main").split()),
                    )
                )
    return found


def debian_sources(sources: list[AptSource], suite: str = SUITE) -> list[AptSource]:
    """The sources that serve Debian `suite` (itself, -updates, -security), in order."""
    return [
        s
        for s in sources
        if any(
            x == suite or x.startswith(f"{suite}-") or x.startswith(f"{suite}/") for x in s.suites
        )
    ]


def debian_mirror(sources: list[AptSource], suite: str = SUITE) -> str:
    """The mirror the machine's apt uses for `suite` itself (debootstrap and apt-cacher-ng
    use it too: the packaged default mirror of apt-cacher-ng answered 503 and hung here)."""
    for source in sources:
        if suite in source.suites:
            return source.uri.rstrip("/")
    return DEFAULT_MIRROR


def sources_file(sources: list[AptSource]) -> str:
    """A deb822 `debian.sources` for the hosts, listing the machine's own Debian sources."""
    stanzas = [
        "\n".join(
            [
                "Types: deb",
                f"URIs: {s.uri}",
                f"Suites: {' '.join(s.suites)}",
                f"Components: {' '.join(s.components)}",
                "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg",
            ]
        )
        for s in sources
    ]
    return "\n\n".join(stanzas) + "\n"


@dataclass(frozen=True)
class RootfsSpec:
    """Everything that shapes the root filesystem; its hash names the cached tree."""

    suite: str = SUITE
    mirror: str = DEFAULT_MIRROR
    include: tuple[str, ...] = INCLUDE
    sources: tuple[AptSource, ...] = field(default=())

    @classmethod
    def from_machine(cls, apt_dir: Path = Path("/etc/apt"), suite: str = SUITE) -> RootfsSpec:
        """A spec whose mirror and apt sources are those of this machine."""
        sources = debian_sources(parse_sources(apt_dir), suite)
        mirror = debian_mirror(sources, suite)
        if not sources:
            sources = [AptSource(mirror, (suite,), ("main",))]
        return cls(suite=suite, mirror=mirror, sources=tuple(sources))

    @property
    def name(self) -> str:
        recipe = json.dumps(
            {
                "format": FORMAT,
                "suite": self.suite,
                "mirror": self.mirror,
                "include": sorted(self.include),
                "sources": sources_file(list(self.sources)),
            },
            sort_keys=True,
        )
        return f"debian-{self.suite}-{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"


def _run(argv: list[str], log: Path, what: str) -> None:
    with log.open("ab") as out:
        result = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, check=False)  # noqa: S603
    if result.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        raise LabError(f"{what} failed (exit {result.returncode}); log {log}:\n{tail}")


def customise(root: Path, spec: RootfsSpec) -> None:
    """Make a debootstrapped tree a neutral template for lab hosts."""
    etc = root / "etc"
    (etc / "machine-id").write_text("")  # each host writes its own (hosts.py)
    dbus_id = root / "var/lib/dbus/machine-id"
    if dbus_id.is_file() and not dbus_id.is_symlink():
        dbus_id.unlink()
    for key in (etc / "ssh").glob("ssh_host_*"):
        key.unlink()  # debootstrap made one set; hosts must not share them
    (etc / "hostname").unlink(missing_ok=True)
    (etc / "apt/sources.list").unlink(missing_ok=True)
    (etc / "apt/sources.list.d").mkdir(parents=True, exist_ok=True)
    (etc / "apt/sources.list.d/debian.sources").write_text(sources_file(list(spec.sources)))
    ssh_dir = root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    systemctl = [command("systemctl"), f"--root={root}"]
    subprocess.run(  # noqa: S603
        [*systemctl, "enable", "systemd-networkd.service"], capture_output=True, check=True
    )
    # apt-daily would take the dpkg lock in the middle of a playbook run
    subprocess.run(  # noqa: S603
        [*systemctl, "disable", "apt-daily.timer", "apt-daily-upgrade.timer"],
        capture_output=True,
        check=True,
    )
    for deb in (root / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()


def _tar(argv_tail: list[str]) -> list[str]:
    return [
        command("tar"),
        "--zstd",
        "--numeric-owner",
        "--xattrs",
        "--xattrs-include=*",
        "--acls",
        *argv_tail,
    ]


def ensure_rootfs(spec: RootfsSpec, cache_dir: Path, report: Report = print) -> Path:
    """The extracted root filesystem for `spec` (read-only lower layer), built if needed.

    Order of reuse: extracted tree, else the cached tarball, else debootstrap (then the
    tarball is written for next time).
    """
    base = cache_dir / "rootfs"
    tree = base / spec.name
    ready = base / f"{spec.name}.ready"
    tarball = base / f"{spec.name}.tar.zst"
    if ready.exists() and tree.is_dir():
        return tree
    with exclusive(base / f"{spec.name}.lock"):
        if ready.exists() and tree.is_dir():
            return tree
        staging = base / f"{spec.name}.staging"
        if staging.exists():
            shutil.rmtree(staging)
        if tree.exists():
            shutil.rmtree(tree)
        staging.mkdir(parents=True)
        log = base / f"{spec.name}.log"
        if tarball.exists():
            report(f"extracting cached root filesystem {tarball.name}")
            _run(_tar(["--extract", "--file", str(tarball), "-C", str(staging)]), log, "tar -x")
        else:
            report(f"debootstrap {spec.suite} from {spec.mirror} (once, about a minute)")
            _run(
                [
                    command("debootstrap"),
                    "--variant=minbase",
                    f"--include={','.join(spec.include)}",
                    spec.suite,
                    str(staging),
                    spec.mirror,
                ],
                log,
                "debootstrap",
            )
            customise(staging, spec)
            report(f"caching root filesystem as {tarball.name}")
            partial = tarball.with_name(tarball.name + ".partial")
            _run(_tar(["--create", "--file", str(partial), "-C", str(staging), "."]), log, "tar -c")
            os.replace(partial, tarball)
        os.replace(staging, tree)
        ready.touch()
    for old in prune(cache_dir, spec.name):
        report(f"removed the outdated root filesystem {old.name}")
    return tree


def prune(cache_dir: Path, keep: str) -> list[Path]:
    """Delete cached trees and tarballs of other recipes (a changed mirror or FORMAT leaves
    ~360 MB behind), except those a mounted overlay still uses as its lower layer."""
    base = cache_dir / "rootfs"
    mounts = Path("/proc/self/mountinfo").read_text()
    removed: list[Path] = []
    for entry in sorted(base.glob("debian-*")):
        stem = entry.name.split(".", 1)[0]
        if stem == keep or f"lowerdir={base / stem}," in mounts or entry.suffix == ".lock":
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
        removed.append(entry)
    return removed
