"""The Pulumi project files: Pulumi.yaml (where hops_cloud.config takes its keys from) is
valid for the Pulumi CLI and describes every key, the program reads every declared key, the
example stack parses, and the provider registry matches the accepted clouds.

data/pulumi-project.schema.json is the project-file schema of the Pulumi CLI
(pulumi/pulumi, sdk/go/common/workspace/project.json, Apache-2.0); `_go_rules` adds the
checks the CLI makes in Go on top of it (workspace.Project.Validate)."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from hops_cloud.aws import AwsProvider
from hops_cloud.config import KEYS, NAMESPACE, SUPPORTED_CLOUDS, parse_config, read_config
from hops_cloud.program import PROVIDERS
from hops_cloud.provider import CloudProvider
from hops_stack.pulumi_config import StackFile
from tests.stacks.cloud.conftest import CLOUD_DIR, REPO, raw_value

PROJECT = yaml.safe_load((CLOUD_DIR / "Pulumi.yaml").read_text())
SCHEMA = json.loads((Path(__file__).parent / "data" / "pulumi-project.schema.json").read_text())
DECLARED = {key.removeprefix(f"{NAMESPACE}:"): spec for key, spec in PROJECT["config"].items()}


def _value_matches(type_: str, items: dict | None, value: Any) -> bool:
    if type_ == "string":
        return isinstance(value, str)
    if type_ == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if type_ == "boolean":
        return isinstance(value, bool)
    return isinstance(value, list) and all(
        _value_matches(items["type"], items.get("items"), v) for v in value
    )


def _go_rules(project: dict) -> list[str]:
    problems = []
    for key, spec in project["config"].items():
        if ":" in key and not key.startswith(project["name"] + ":"):
            problems.append(f"{key}: typed keys must be namespaced by the project")
        if spec["type"] == "array" and "items" not in spec:
            problems.append(f"{key}: array without items")
        if "default" in spec and not _value_matches(
            spec["type"], spec.get("items"), spec["default"]
        ):
            problems.append(f"{key}: default is not a {spec['type']}")
    return problems


def test_pulumi_yaml_is_a_valid_project_file():
    jsonschema.Draft202012Validator(SCHEMA).validate(PROJECT)
    assert _go_rules(PROJECT) == []
    assert PROJECT["name"] == NAMESPACE == "hops-cloud"
    assert PROJECT["runtime"] == {
        "name": "python",
        "options": {"toolchain": "pip", "virtualenv": "venv"},
    }


def test_the_validators_can_fail():
    bad = json.loads(json.dumps(PROJECT))
    bad["config"]["hops:headCount"] = {"type": "integer", "default": "one"}
    assert len(_go_rules(bad)) == 2
    bad["config"]["hops-cloud:tags"] = {"type": "object"}
    assert list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(bad))


def test_pulumi_yaml_describes_every_key():
    for key, declared in DECLARED.items():
        assert len(declared["description"]) > 20, key


def test_read_config_reads_every_declared_key():
    class Recording:
        def __init__(self) -> None:
            self.asked: set[str] = set()

        def get(self, key):
            self.asked.add(key)
            return None

    recording = Recording()
    with pytest.raises(Exception, match="required, not set"):
        read_config(recording, stack_file=StackFile())  # type: ignore[arg-type]
    assert recording.asked == set(DECLARED)


def stack_file_config(path: Path) -> dict[str, str]:
    values = yaml.safe_load(path.read_text())["config"]
    prefix = f"{NAMESPACE}:"
    return {k.removeprefix(prefix): raw_value(v) for k, v in values.items() if k.startswith(prefix)}


def test_the_example_stack_is_a_small_cluster_with_one_gpu_worker():
    values = yaml.safe_load((CLOUD_DIR / "Pulumi.dev.yaml").read_text())["config"]
    assert set(values) - {f"{NAMESPACE}:{k}" for k in KEYS} == {"aws:region"}
    raw = stack_file_config(CLOUD_DIR / "Pulumi.dev.yaml")
    # The secrets are set with `pulumi config set --secret` (the file says how).
    secrets = {k: "x" * 12 for k, spec in KEYS.items() if spec.secret}
    secrets["sshPrivateKey"] = (
        "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----"
    )
    config = parse_config(raw | secrets)
    assert config.gpu_workers.count == 1
    assert config.gpu_workers.instance_type.startswith("g5.")
    assert (config.heads.count, config.workers.count) == (1, 2)


def test_requirements_name_the_programs_packages():
    requirements = (CLOUD_DIR / "requirements.txt").read_text()
    for package in ("pulumi>=", "pulumi-aws", "pulumi-command", "pyyaml"):
        assert package in requirements


def test_every_supported_cloud_has_a_provider_with_the_interface():
    assert set(PROVIDERS) == set(SUPPORTED_CLOUDS)
    for method in ("create_network", "create_access", "create_node_group", "create_api_endpoint"):
        expected = list(inspect.signature(getattr(CloudProvider, method)).parameters)
        assert list(inspect.signature(getattr(AwsProvider, method)).parameters) == expected
    assert AwsProvider.name == "aws"


def test_the_docs_describe_every_key():
    docs = (REPO / "docs" / "stacks-cloud.md").read_text()
    for key in KEYS:
        assert f"`{key}`" in docs, key
