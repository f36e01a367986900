"""The model servers' interpreter: a virtualenv with KServe's model server, scikit-learn and
joblib, built once per machine and reused by every serving of every project.

It is platform software, not a project's environment: its requirements are pinned in
`model_server_requirements.txt`, and it is cached under the hash of that file and of the
base interpreter's version (as `scripts/bootstrap.sh` keeps `.venv`), so a changed pin
builds a new one beside the old and nothing is rebuilt otherwise. Concurrent builders (two
test workers, two services) wait on a file lock and find the finished build. The program
the sandbox runs (`launcher.py`) is copied into it, because the sandbox shows a run the
interpreter's prefix and not the service's code.

`python -m hopsworks_api.servings.model_server_env` builds it (bootstrap, CI) and prints the
interpreter; `HOPS_MODEL_SERVER_PYTHON` names another one instead.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

from hopsworks_api.config import Settings
from hopsworks_api.environments.build import base_python, source_options

REQUIREMENTS = "model_server_requirements.txt"
LAUNCHER = "hops_model_server.py"
COMPLETE = ".complete"
BUILD_TIMEOUT_S = 1800


def _requirements() -> str:
    return resources.files(__package__).joinpath(REQUIREMENTS).read_text()


def _launcher_source() -> bytes:
    return resources.files(__package__).joinpath("launcher.py").read_bytes()


def _key(python: Path) -> str:
    version = subprocess.run(  # noqa: S603 - the service's own base interpreter
        [str(python), "-c", "import sys; print(sys.version)"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return hashlib.sha256(f"{_requirements()}\0{version}".encode()).hexdigest()[:16]


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hopsworks-api"


def build_dir(settings: Settings) -> Path:
    return cache_root() / f"model-server-{_key(base_python(settings))}"


def installed(settings: Settings) -> Path | None:
    """The interpreter if it is there (configured, or built and complete), else None."""
    if settings.model_server_python is not None:
        return settings.model_server_python if settings.model_server_python.exists() else None
    directory = build_dir(settings)
    return directory / "bin" / "python" if (directory / COMPLETE).exists() else None


def launcher(python: Path) -> Path:
    """The model server's program beside the interpreter (copied if it changed: replaced
    in one rename, so a server starting meanwhile reads the old or the new file whole)."""
    target = python.parent / LAUNCHER
    source = _launcher_source()
    if not target.exists() or target.read_bytes() != source:
        temporary = target.with_name(f".{LAUNCHER}.{os.getpid()}")
        temporary.write_bytes(source)
        temporary.chmod(0o644)
        temporary.replace(target)
    return target


def ensure(settings: Settings, log: Path | None = None) -> Path:
    """Build the environment unless it is built; its interpreter."""
    found = installed(settings)
    if found is not None:
        return found
    if settings.model_server_python is not None:
        raise FileNotFoundError(f"HOPS_MODEL_SERVER_PYTHON {settings.model_server_python}")
    directory = build_dir(settings)
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(directory.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if (directory / COMPLETE).exists():
            return directory / "bin" / "python"
        shutil.rmtree(directory, ignore_errors=True)  # a build that was interrupted
        requirements = directory.with_suffix(".requirements.txt")
        requirements.write_text(_requirements())
        output = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115
        try:
            pip = [sys.executable, "-m", "pip", "--python", str(directory / "bin" / "python")]
            pip += ["install", "--disable-pip-version-check", "--no-input"]
            pip += ["--progress-bar", "off", *source_options(settings), "-r", str(requirements)]
            commands = [
                [str(base_python(settings)), "-m", "venv", "--without-pip", str(directory)],
                pip,
            ]
            for command in commands:
                subprocess.run(  # noqa: S603 - fixed commands, pinned requirements
                    command,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    check=True,
                    timeout=BUILD_TIMEOUT_S,
                )
        finally:
            if log is not None:
                output.close()  # type: ignore[union-attr]
        (directory / COMPLETE).write_text(_requirements())
    return directory / "bin" / "python"


if __name__ == "__main__":
    print(ensure(Settings()))
