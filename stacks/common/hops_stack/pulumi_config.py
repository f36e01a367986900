"""A stack's configuration as its Pulumi.yaml declares it, read through `pulumi.Config`.

Pulumi.yaml's `config:` section is the one statement of a stack's keys: type, default,
secrecy, description. The Pulumi CLI enforces it before the program starts (types, required
keys, `secret: true` keys set in plaintext) and hands the program the defaults; the
programs derive their key tables from the same file (`load_project`), so nothing restates
it.

Values are read through the public `pulumi.Config` only. What that API cannot tell (which
keys are set at all, so that a typo is refused rather than ignored, and which were set with
`--secret`) comes from the stack's settings file, Pulumi.<stack>.yaml, a format Pulumi
documents (`StackFile`). Values set elsewhere (an ESC environment, the Automation API) are
read all the same; they are just not checked for typos or secrecy.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

import yaml

if TYPE_CHECKING:
    import pulumi

ConfigType = Literal["string", "integer", "boolean", "array"]
TYPES: tuple[ConfigType, ...] = ("string", "integer", "boolean", "array")


class ProjectFileError(ValueError):
    """Pulumi.yaml's `config:` section is not one these programs can read."""


def config_string(value: Any) -> str:
    """A value as the Pulumi CLI hands it to a program: strings as they are, booleans as
    `true`/`false`, numbers in decimal, lists and objects as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value)


@dataclass(frozen=True)
class ConfigKey:
    """One declared key. `default` is the string the program receives when the key is not
    set (None: the key is required)."""

    name: str
    type: ConfigType
    description: str
    default: str | None = None
    secret: bool = False

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass(frozen=True)
class ProjectConfig:
    """The keys of a Pulumi project, in the order Pulumi.yaml declares them. They live in
    the project's namespace (`<project>:<key>`), so plain `pulumi config set <key>` sets them
    and Pulumi accepts their typed declarations."""

    project: str
    keys: Mapping[str, ConfigKey]

    def full_key(self, key: str) -> str:
        return f"{self.project}:{key}"

    def read(self, config: pulumi.Config | None = None) -> dict[str, str | None]:
        """Every declared key's raw value (None: not set, and no default reached us)."""
        if config is None:
            import pulumi

            config = pulumi.Config(self.project)
        return {key: config.get(key) for key in self.keys}


def load_project(path: Path) -> ProjectConfig:
    """The project name and its declared keys, from Pulumi.yaml at `path`."""
    data = yaml.safe_load(path.read_text()) or {}
    project = data.get("name")
    if not isinstance(project, str) or not project:
        raise ProjectFileError(f"{path}: no project name")
    keys: dict[str, ConfigKey] = {}
    for declared, spec in (data.get("config") or {}).items():
        namespace, _, name = str(declared).rpartition(":")
        if namespace not in ("", project):
            raise ProjectFileError(f"{path}: {declared} is not in the namespace {project}")
        if not isinstance(spec, dict) or spec.get("type") not in TYPES:
            raise ProjectFileError(f"{path}: {declared} declares no type of {TYPES}")
        if name in keys:
            raise ProjectFileError(f"{path}: {name} is declared twice")
        keys[name] = ConfigKey(
            name=name,
            type=spec["type"],
            description=str(spec.get("description", "")),
            default=config_string(spec["default"]) if "default" in spec else None,
            secret=bool(spec.get("secret", False)),
        )
    return ProjectConfig(project=project, keys=MappingProxyType(keys))


@dataclass(frozen=True)
class StackFile:
    """What a stack's settings file sets in the project's namespace: every key, and which of
    them are encrypted (`secure:` values, written by `pulumi config set --secret`)."""

    keys: frozenset[str] = frozenset()
    secure: frozenset[str] = frozenset()
    path: Path | None = field(default=None, compare=False)

    @property
    def plaintext(self) -> frozenset[str]:
        return self.keys - self.secure

    def undeclared(self, declared: Iterable[str]) -> list[str]:
        return sorted(self.keys - set(declared))

    @classmethod
    def read(cls, path: Path, project: str) -> StackFile:
        """The file's keys of `project`; a file that does not exist sets nothing."""
        if not path.is_file():
            return cls(path=path)
        values = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
        prefix = f"{project}:"
        keys: set[str] = set()
        secure: set[str] = set()
        for full, value in values.items():
            if not str(full).startswith(prefix):
                continue
            key = str(full)[len(prefix) :]
            keys.add(key)
            if isinstance(value, Mapping) and set(value) == {"secure"}:
                secure.add(key)
        return cls(frozenset(keys), frozenset(secure), path)

    @classmethod
    def of_running_stack(cls, project_dir: Path, project: str) -> StackFile:
        """The settings file of the stack `pulumi up` runs: Pulumi.<stack>.yaml beside
        Pulumi.yaml, or in its `stackConfigDir`."""
        import pulumi

        settings = yaml.safe_load((project_dir / "Pulumi.yaml").read_text()) or {}
        directory = project_dir / str(settings.get("stackConfigDir") or ".")
        return cls.read(directory / f"Pulumi.{pulumi.get_stack()}.yaml", project)
