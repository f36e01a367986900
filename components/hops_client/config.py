"""Saved profiles, like a kubeconfig: where the platform is, how to trust it, the API key.

One TOML file (`~/.config/hops/config.toml`, or `HOPS_CONFIG`), mode 0600 because it holds
API keys, replaced atomically (a temporary file in the same directory, created 0600, then
renamed) so that a crash or a concurrent `hops login` never leaves half a file or a moment
in which the key is readable by others.
"""

from __future__ import annotations

import json
import os
import re
import ssl
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from hops_client.errors import CliError

PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
DEFAULT_PROFILE = "default"


@dataclass(frozen=True)
class Profile:
    name: str
    url: str
    """The platform's base URL, without `/api`."""
    api_key: str
    ca_file: str | None = None
    insecure: bool = False

    @property
    def verify(self) -> bool | ssl.SSLContext:
        """httpx's `verify`: the profile's CA bundle, none at all, or the system's."""
        if self.insecure:
            return False
        if not self.ca_file:
            return True
        try:
            return ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise CliError(
                f"cannot load the CA file {self.ca_file} of profile '{self.name}' ({exc}): "
                "run hops login with --ca-file"
            ) from exc


@dataclass
class Config:
    current: str | None = None
    profiles: dict[str, Profile] = field(default_factory=dict)


def config_path() -> Path:
    override = os.environ.get("HOPS_CONFIG")
    if override:
        return Path(override).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "hops" / "config.toml"


def load() -> Config:
    path = config_path()
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return Config()
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CliError(f"cannot read {path}: {exc}; fix or remove it, then run hops login") from exc
    profiles = {}
    for name, entry in (data.get("profiles") or {}).items():
        if not isinstance(entry, dict) or not entry.get("url") or not entry.get("api_key"):
            raise CliError(f"profile '{name}' in {path} lacks url or api_key: run hops login")
        profiles[name] = Profile(
            name=name,
            url=str(entry["url"]),
            api_key=str(entry["api_key"]),
            ca_file=entry.get("ca_file") or None,
            insecure=bool(entry.get("insecure", False)),
        )
    return Config(current=data.get("current"), profiles=profiles)


def _toml_string(value: str) -> str:
    # A JSON string is a valid TOML basic string (same escapes, \uXXXX included).
    return json.dumps(value, ensure_ascii=False)


def dumps(config: Config) -> str:
    lines = ["# hops profiles (hops login, hops profiles use); holds API keys: keep it 0600"]
    if config.current:
        lines.append(f"current = {_toml_string(config.current)}")
    for name in sorted(config.profiles):
        profile = config.profiles[name]
        lines += ["", f"[profiles.{name}]", f"url = {_toml_string(profile.url)}"]
        lines.append(f"api_key = {_toml_string(profile.api_key)}")
        if profile.ca_file:
            lines.append(f"ca_file = {_toml_string(profile.ca_file)}")
        if profile.insecure:
            lines.append("insecure = true")
    return "\n".join(lines) + "\n"


def save(config: Config) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # mkstemp creates the file 0600: the key is never readable by others, not even briefly.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(dumps(config))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def select(config: Config, name: str | None) -> Profile:
    """The profile a command uses: `--profile`/`HOPS_PROFILE`, else the current one."""
    chosen = name or config.current
    if not config.profiles:
        raise CliError("no profile saved: run hops login URL")
    if chosen is None:
        raise CliError("no current profile: run hops profiles use NAME")
    if chosen not in config.profiles:
        known = ", ".join(sorted(config.profiles))
        raise CliError(f"no profile named '{chosen}' (saved: {known}): run hops login --profile")
    return config.profiles[chosen]
