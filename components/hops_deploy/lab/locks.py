"""One lab step at a time between processes: two `hops-lab up`s, or two lab test runs,
that would otherwise build the same cached tree side by side."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold an advisory lock on `path` (created when missing) for the block; the kernel
    lets go of it when a holder dies, so a crashed run never leaves it taken."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
