"""What the control service's wheel is made of, and the version that names it.

The deploy code builds and ships the wheel (hops_deploy.ship); the cloud stack re-runs the
playbook when this version changes, so a `pulumi up` after a code change deploys the code.
One definition for both: the version is `<pyproject version>+<sha256 of the sources, 16
hex>`, the same for the same sources wherever they are checked out.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

TOP_LEVEL = ("pyproject.toml", "README.md")
SKIPPED_DIRS = frozenset({"__pycache__", "node_modules"})
VERSION_LINE = re.compile(r'^version = "(?P<version>[^"]+)"$', re.M)


def sources(checkout: Path) -> Iterator[Path]:
    """The files the wheel is built from, relative to the checkout, in a stable order."""
    for name in TOP_LEVEL:
        yield Path(name)
    for root, dirs, files in os.walk(checkout / "components"):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info"))
        for name in sorted(files):
            if not name.endswith((".pyc", ".pyo")):
                yield (Path(root) / name).relative_to(checkout)


def base_version(checkout: Path) -> str:
    found = VERSION_LINE.search((checkout / "pyproject.toml").read_text())
    if not found:
        raise ValueError(f'no `version = "..."` line in {checkout / "pyproject.toml"}')
    return found.group("version")


def source_version(checkout: Path) -> str:
    """The version the wheel of these sources gets: `<pyproject version>+<source hash>`."""
    digest = hashlib.sha256()
    for relative in sources(checkout):
        digest.update(relative.as_posix().encode() + b"\0")
        digest.update((checkout / relative).read_bytes() + b"\0")
    return f"{base_version(checkout)}+{digest.hexdigest()[:16]}"
