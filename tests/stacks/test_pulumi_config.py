"""hops_stack.pulumi_config: Pulumi.yaml as the one statement of a stack's keys, and the
stack settings file for what `pulumi.Config` cannot tell."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hops_stack import pulumi_config
from hops_stack.pulumi_config import (
    ProjectFileError,
    StackFile,
    config_string,
    load_project,
)

REPO = Path(__file__).resolve().parents[2]
PROJECT_FILES = sorted((REPO / "stacks").glob("*/Pulumi.yaml"))


def _project(tmp_path: Path, config: dict) -> Path:
    path = tmp_path / "Pulumi.yaml"
    path.write_text(
        yaml.safe_dump({"name": "demo", "runtime": "python", "config": config}, sort_keys=False)
    )
    return path


def test_defaults_are_the_strings_the_cli_hands_the_program(tmp_path: Path) -> None:
    project = load_project(
        _project(
            tmp_path,
            {
                "count": {"type": "integer", "default": 3},
                "demo:enabled": {"type": "boolean", "default": False},
                "cidrs": {"type": "array", "items": {"type": "string"}, "default": ["10.0.0.0/8"]},
                "name": {"type": "string", "default": "1.30"},
                "password": {"type": "string", "secret": True, "description": "The password."},
            },
        )
    )
    assert project.project == "demo"
    assert list(project.keys) == ["count", "enabled", "cidrs", "name", "password"]
    defaults = {k: v.default for k, v in project.keys.items()}
    assert defaults == {
        "count": "3",
        "enabled": "false",
        "cidrs": '["10.0.0.0/8"]',
        "name": "1.30",
        "password": None,
    }
    assert project.keys["password"].required and project.keys["password"].secret
    assert project.keys["password"].description == "The password."
    assert project.full_key("count") == "demo:count"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"other:key": {"type": "string"}}, "not in the namespace demo"),
        ({"key": {"type": "object"}}, "declares no type"),
        ({"key": "plain"}, "declares no type"),
        ({"key": {"type": "string"}, "demo:key": {"type": "string"}}, "declared twice"),
    ],
)
def test_a_declaration_the_programs_cannot_read_is_refused(
    tmp_path: Path, config: dict, message: str
) -> None:
    with pytest.raises(ProjectFileError, match=message):
        load_project(_project(tmp_path, config))


def test_reads_every_declared_key_through_the_config_it_is_given(tmp_path: Path) -> None:
    project = load_project(_project(tmp_path, {"a": {"type": "string"}, "b": {"type": "string"}}))

    class Config:
        def get(self, key: str) -> str | None:
            return {"a": "x"}.get(key)

    assert project.read(Config()) == {"a": "x", "b": None}  # type: ignore[arg-type]


def test_the_stack_file_tells_set_and_encrypted_keys(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "config": {
                    "demo:plain": "x",
                    "demo:list": ["a", "b"],
                    "demo:hidden": {"secure": "v1:abc"},
                    "demo:object": {"secure": "v1:abc", "other": 1},
                    "aws:region": "eu-north-1",
                }
            }
        )
    )
    stack = StackFile.read(path, "demo")
    assert stack.keys == {"plain", "list", "hidden", "object"}
    assert stack.secure == {"hidden"}
    assert stack.plaintext == {"plain", "list", "object"}
    assert stack.undeclared(["plain", "hidden"]) == ["list", "object"]
    assert StackFile.read(tmp_path / "Pulumi.none.yaml", "demo") == StackFile()


def test_the_running_stacks_file_honours_stack_config_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pulumi

    (tmp_path / "Pulumi.yaml").write_text("name: demo\nruntime: python\nstackConfigDir: stacks\n")
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.prod.yaml").write_text("config:\n  demo:typo: 1\n")
    monkeypatch.setattr(pulumi, "get_stack", lambda: "prod")
    assert StackFile.of_running_stack(tmp_path, "demo").keys == {"typo"}


def test_config_string_is_what_pulumi_passes() -> None:
    assert [config_string(v) for v in ("a", True, 0, [1], {"k": "v"})] == [
        "a",
        "true",
        "0",
        "[1]",
        '{"k": "v"}',
    ]


@pytest.mark.parametrize("path", PROJECT_FILES, ids=lambda p: p.parent.name)
def test_every_stacks_pulumi_yaml_loads(path: Path) -> None:
    project = load_project(path)
    assert project.project == yaml.safe_load(path.read_text())["name"]
    assert project.keys


def test_no_stack_reads_pulumis_private_config() -> None:
    """`pulumi.Config` is the SDK's public API; pulumi.runtime.config is its machinery."""
    sources = [Path(pulumi_config.__file__), *REPO.glob("stacks/*/hops_*/config.py")]
    assert len(sources) == 3
    for path in sources:
        text = path.read_text()
        assert "pulumi.runtime" not in text and "is_config_secret" not in text, path


@pytest.mark.parametrize(
    "requirements",
    ["cloud/requirements.txt", "kubernetes/requirements.txt", "cloud/policy/requirements.txt"],
)
def test_the_programs_install_the_shared_packages_from_the_checkout(requirements: str) -> None:
    """pip reads a path in requirements.txt from where `pulumi install` runs it: the file's
    own directory."""
    path = REPO / "stacks" / requirements
    lines = [line.strip() for line in path.read_text().splitlines()]
    (local,) = [line for line in lines if line.startswith(".")]
    assert (path.parent / local).resolve() == REPO / "stacks" / "common"


def test_the_shared_distribution_builds_both_packages_from_their_places() -> None:
    import tomllib

    common = REPO / "stacks" / "common"
    setuptools = tomllib.loads((common / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert set(setuptools["packages"]) == {"hops_platform", "hops_stack"}
    for package, directory in setuptools["package-dir"].items():
        assert (common / directory / "__init__.py").is_file(), package
    assert (common / setuptools["package-dir"]["hops_platform"]).resolve() == (
        REPO / "components" / "hops_platform"
    )
