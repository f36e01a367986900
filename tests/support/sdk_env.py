"""The official `hopsworks` SDK's interpreter for the SDK compatibility tests: a virtualenv
with the unchanged wheel from PyPI, built once per machine and reused by every test session.

It is cached under ~/.cache/hopsworks-api/ keyed by the hash of `REQUIREMENTS` and the base
interpreter's version (as servings/model_server_env.py caches the model servers'), so a
changed pin builds a new one beside the old and nothing is rebuilt otherwise. Parallel
sessions wait on a file lock and find the finished build. pyspark is kept out: with it
importable the SDK picks its Spark engine.

`python -m tests.support.sdk_env` builds it (bootstrap, CI) and prints the interpreter.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

# The SDK version the compatibility API promises (docs/sdk.md); pyarrow is what the SDK's
# model deployment path imports lazily.
REQUIREMENTS = """\
hopsworks==5.2.1
pyarrow==22.0.0
"""
COMPLETE = ".complete"
BUILD_TIMEOUT_S = 1800


def _key() -> str:
    return hashlib.sha256(f"{REQUIREMENTS}\0{sys.version}".encode()).hexdigest()[:16]


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hopsworks-api"


def build_dir() -> Path:
    return cache_root() / f"sdk-{_key()}"


def ensure(log: Path | None = None) -> Path:
    """The SDK venv's interpreter, built first unless a complete build is there."""
    directory = build_dir()
    python = directory / "bin" / "python"
    if (directory / COMPLETE).exists():
        return python
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(directory.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if (directory / COMPLETE).exists():
            return python
        shutil.rmtree(directory, ignore_errors=True)  # a build that was interrupted
        requirements = directory.with_suffix(".requirements.txt")
        requirements.write_text(REQUIREMENTS)
        pip = [sys.executable, "-m", "pip", "--python", str(python), "install"]
        pip += ["--disable-pip-version-check", "--no-input", "--progress-bar", "off"]
        pip += ["-r", str(requirements)]
        commands = [[sys.executable, "-m", "venv", "--without-pip", str(directory)], pip]
        with open(log or os.devnull, "ab") as output:
            for command in commands:
                subprocess.run(
                    command,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    check=True,
                    timeout=BUILD_TIMEOUT_S,
                )
        (directory / COMPLETE).write_text(REQUIREMENTS)
    return python


if __name__ == "__main__":
    print(ensure())
