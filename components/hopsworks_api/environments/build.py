"""One environment build: a virtualenv, pip installing the requirements into it, the lock.

Runs in a thread the use case started; everything the service must remember ends up in the
build's directory (the venv, `build.log`) or is returned (the lock). pip runs `--isolated`
(no config files or `PIP_*` variables of the service's account decide where packages come
from) and `--only-binary :all:` (installing a wheel runs no package code; building an sdist
would run it as the service's account).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from hopsworks_api.config import Settings

LOG_NAME = "build.log"
TAIL_CHARS = 4000


class BuildFailed(Exception):
    """The build ran but did not produce a usable environment (its log says why)."""


def base_python(settings: Settings) -> Path:
    """The `default` environment's interpreter, which every environment is also built on."""
    return settings.default_python or Path(sys.executable)


def interpreter(build_dir: Path) -> Path:
    return build_dir / "bin" / "python"


def log_tail(build_dir: Path) -> str:
    try:
        with (build_dir / LOG_NAME).open("rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - TAIL_CHARS))
            return log.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


def append_log(build_dir: Path, line: str) -> None:
    build_dir.mkdir(parents=True, exist_ok=True)
    with (build_dir / LOG_NAME).open("a") as log:
        log.write(line.rstrip("\n") + "\n")


def source_options(settings: Settings) -> list[str]:
    if settings.wheelhouse is not None:
        return ["--no-index", "--find-links", str(settings.wheelhouse)]
    if settings.package_index_url:
        return ["--index-url", settings.package_index_url]
    return []


def run(
    settings: Settings,
    build_dir: Path,
    requirements: list[str],
    *,
    heartbeat: Callable[[], None],
    heartbeat_seconds: float,
) -> str:
    """Build into `build_dir` (which must not exist) and return the lock; raise BuildFailed."""
    build_dir.mkdir(parents=True)
    (build_dir / "requirements.txt").write_text("".join(f"{r}\n" for r in requirements))
    report = build_dir / "pip-report.json"
    deadline = time.monotonic() + settings.environment_build_timeout_seconds
    with (build_dir / LOG_NAME).open("a") as log:
        # pip comes from the service's interpreter (`--python` targets the venv): no
        # ensurepip per build, seconds saved and no pip inside the project's environment
        pip = [sys.executable, "-m", "pip", "--python", str(interpreter(build_dir))]
        pip += ["--isolated", "install", "--disable-pip-version-check", "--no-input"]
        pip += ["--progress-bar", "off", "--only-binary", ":all:", *source_options(settings)]
        pip += ["--report", str(report), "-r", str(build_dir / "requirements.txt")]
        steps = [[str(base_python(settings)), "-m", "venv", "--without-pip", str(build_dir)], pip]
        for command in steps:
            _step(command, log, deadline, heartbeat, heartbeat_seconds)
    return lock_from_report(json.loads(report.read_text()))


def _step(
    command: list[str],
    log: IO[str],
    deadline: float,
    heartbeat: Callable[[], None],
    heartbeat_seconds: float,
) -> None:
    log.write(f"$ {' '.join(command)}\n")
    log.flush()
    # the arguments are ours; the requirements reach pip validated, in a file
    process = subprocess.Popen(  # noqa: S603
        command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
    )
    while True:
        try:
            wait = min(heartbeat_seconds, deadline - time.monotonic())
            code = process.wait(timeout=max(0.01, wait))
            break
        except subprocess.TimeoutExpired as exc:
            if time.monotonic() >= deadline:
                process.kill()
                process.wait()
                raise BuildFailed(
                    "the build took too long (HOPS_ENVIRONMENT_BUILD_TIMEOUT_SECONDS)"
                ) from exc
            heartbeat()
    if code != 0:
        raise BuildFailed(f"{command[2]} exited with status {code}")


def lock_from_report(report: dict) -> str:
    """`name==version --hash=sha256:…` per installed distribution (pip's
    `--require-hashes` format), from pip's installation report."""
    lines = []
    for item in sorted(report.get("install", []), key=lambda i: i["metadata"]["name"].lower()):
        name, version = item["metadata"]["name"], item["metadata"]["version"]
        hashes = item.get("download_info", {}).get("archive_info", {}).get("hashes", {})
        if "sha256" not in hashes:
            raise BuildFailed(f"pip reported no sha256 hash for {name} {version}")
        lines.append(f"{name}=={version} \\\n    --hash=sha256:{hashes['sha256']}\n")
    return "".join(lines)


def packages_of_lock(lock: str) -> list[tuple[str, str]]:
    pins = (line.split(" ", 1)[0] for line in lock.splitlines() if "==" in line)
    return [(name, version) for name, _, version in (pin.partition("==") for pin in pins)]


def installed_packages(python: Path) -> list[tuple[str, str]]:
    """What an interpreter we did not build (the `default`) has installed."""
    script = (
        "import importlib.metadata as m, json; print(json.dumps(sorted("
        "{(d.metadata['Name'], d.version) for d in m.distributions() if d.metadata['Name']})))"
    )
    result = subprocess.run(  # noqa: S603  # the configured interpreter, our script
        [str(python), "-I", "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    return [(name, version) for name, version in json.loads(result.stdout)]
