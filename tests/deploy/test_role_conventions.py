"""Conventions every role keeps (style.md, geerlingguy's roles): templates in plain Jinja2
so pyinfra renders the same bytes, every default documented in meta/argument_specs.yml with
a type and a description and prefixed with the role's name, explicit Galaxy metadata."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLES = REPO / "roles"


ROLE_NAMES = sorted(p.name for p in ROLES.iterdir() if (p / "meta" / "main.yml").exists())
ANSIBLE_ONLY = (
    "lookup(",
    "query(",
    "hostvars",
    "groups[",
    "ansible_managed",
    "ansible_facts",
    "| comment",
    "|comment",
    "to_nice_yaml",
    "to_yaml",
    "to_json",
    "from_json",
    "ipaddr",
    "regex_replace",
    "b64encode",
    "password_hash",
)


def test_every_role_is_checked():
    assert {"hops", "preflight", "common", "ca", "metadata_db", "zookeeper", "hdfs", "yarn"} <= set(
        ROLE_NAMES
    )
    assert {"kafka", "nvidia", "spark", "hive", "kubernetes", "hopsworks_api"} <= set(ROLE_NAMES)


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_templates_use_no_ansible_only_construct(role: str) -> None:
    for path in sorted((ROLES / role / "templates").glob("*.j2")):
        text = path.read_text()
        for construct in ANSIBLE_ONLY:
            assert construct not in text, f"{path.relative_to(REPO)} uses {construct}"


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_every_default_is_documented_and_every_documented_variable_has_a_default(
    role: str,
) -> None:
    defaults = yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text()) or {}
    specs = yaml.safe_load((ROLES / role / "meta" / "argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"].get("options", {})
    assert set(defaults) - set(options) == set(), "defaults without documentation"
    assert set(options) - set(defaults) == set(), "documented variables without a default"
    for name, option in options.items():
        assert name.startswith(f"{role}_"), name
        assert option.get("type") and option.get("description"), name


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_galaxy_metadata_is_explicit(role: str) -> None:
    meta = yaml.safe_load((ROLES / role / "meta" / "main.yml").read_text())
    assert meta["dependencies"] == []
    assert meta["galaxy_info"]["role_name"] == role
    assert {"name": "Debian", "versions": ["bookworm"]} in meta["galaxy_info"]["platforms"]
    assert (ROLES / role / "README.md").exists()
